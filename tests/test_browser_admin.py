"""The administrator assigns towns by picking them from a list with a search box (no typed codes)."""
from __future__ import annotations

from sqlalchemy.orm import Session

import served
from conftest import SERVED_PASSWORD
from registry import accounts
from registry import db as registry_db


def test_admin_finds_a_town_by_name_and_assigns_it(browser, served_app, served_database):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    served.sign_in(context, served_app.base, "admin_user", SERVED_PASSWORD)
    page = served.Watched(context, served_app.base).page
    page.goto(served_app.base + "/admin/users")
    form = page.locator("form.add-user")
    form.locator("input[name=username]").fill("bingzhen")
    form.locator("select[name=role]").select_option("town")
    form.locator(".town-filter").fill("丙")
    shown = page.evaluate("() => Array.from(document.querySelectorAll('form.add-user select[name=towns] option'))"
                          ".filter(o => !o.hidden).map(o => o.textContent)")
    assert shown == ["丙镇（370499003）"]
    form.locator("select[name=towns]").select_option("370499003")
    form.locator("input[name=password]").fill("long-enough-pw")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "已添加用户 bingzhen" in page.locator("main").inner_text()
    engine = registry_db.make_engine(served_database)
    with Session(engine) as session:
        assert accounts.find_account(session, "bingzhen").town_codes == ("370499003",)
    engine.dispose()
    context.close()
