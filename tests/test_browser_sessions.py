"""Signed-in users stay signed in when served the way users run it: ``eqreg serve --workers 4``
over the demo (``eqreg demo``) in a database made for this module. Each demo account clicks
through every menu page, 40 page views in all, and signs out with a CSRF-protected form."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import served
from registry.demo import DEMO_USERS

PAGE_VIEWS = 40


@pytest.fixture(scope="module")
def demo_app(database_url):
    name = "eqreg_test_sessions_demo"
    with served.module_database(database_url, name) as url:
        eqreg = Path(sys.executable).with_name("eqreg")
        subprocess.run([str(eqreg), "demo"], env={**served.os.environ, "DATABASE_URL": url},
                       check=True, capture_output=True)
        with served.Served(url, workers=4) as app:
            yield app


@pytest.mark.parametrize("username,password", [(u, p) for u, _r, _t, _d, p in DEMO_USERS])
def test_demo_account_clicks_every_menu_page_40_times_without_being_signed_out(browser, demo_app,
                                                                               username, password):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    served.sign_in(context, demo_app.base, username, password)
    page = context.new_page()
    page.goto(demo_app.base + "/")
    menu = page.eval_on_selector_all(".main-nav a, .user-menu a[href^='/admin']",
                                     "links => links.map(a => a.getAttribute('href'))")
    assert len(menu) >= 4, menu
    statuses, bounced = [], []
    for view in range(PAGE_VIEWS):
        href = menu[view % len(menu)]
        with page.expect_navigation() as navigation:
            page.locator(f".site-header a[href='{href}']").first.click()
        statuses.append(navigation.value.status)
        if urlsplit(page.url).path == "/login":
            bounced.append((view, href))
    assert bounced == []
    assert set(statuses) == {200}, statuses
    with page.expect_navigation():
        page.locator(".logout-form button").click()
    assert urlsplit(page.url).path == "/login"  # the CSRF token of one worker is good on the others
    context.close()
