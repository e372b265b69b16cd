"""The targets pages in a real browser (Debian's Chromium via Playwright): the bureau opens
/targets, sees a behind target, opens it (choropleth drawn) and follows a project link; a town
official sees only their town's part."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from target_data import TOWN2, plan_loaded, world_committed  # noqa: F401  (fixtures)
from test_browser import ARTIFACTS, PASSWORD, Watched, browser, sign_in  # noqa: F401  (fixture)


@pytest.fixture
def target_server(app, plan_loaded):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def watched(browser, base: str, username: str) -> Watched:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    sign_in(context, base, username)
    return Watched(context, base)


def test_bureau_follows_a_behind_target_to_a_project(browser, target_server, make_user):
    make_user("bureau", username="target_clerk", password=PASSWORD)
    view = watched(browser, target_server, "target_clerk")
    page = view.page
    page.goto(target_server + "/targets?as_of=2025-06-30")
    row = page.locator("tr.target-row.status-behind", has_text="投资过500万元的工业项目")
    assert row.locator(".target-status").inner_text() == "滞后"
    assert row.locator("svg.target-bar line.pace").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "targets.png"), full_page=True)

    row.locator("a").first.click()
    page.wait_for_selector("html[data-target-map-ready]")
    assert page.locator("h1").inner_text() == "到2025年，投资过500万元的工业项目4个"
    assert page.locator("#target-map path.leaflet-interactive").count() == 3  # the three towns
    page.screenshot(path=str(ARTIFACTS / "target.png"), full_page=True)

    link = page.locator("table.counted a", has_text="项目ind-600")
    with page.expect_navigation():
        link.click()
    assert "/projects/" in page.url
    assert "项目ind-600" in page.locator("h1").inner_text()
    view.assert_stayed_local()
    page.context.close()


def test_town_official_sees_only_their_towns_part(browser, target_server, make_user):
    make_user("town", towns=[TOWN2], username="yizhen", password=PASSWORD)
    view = watched(browser, target_server, "yizhen")
    page = view.page
    page.goto(target_server + "/targets/t-equipment?as_of=2025-06-30")
    page.wait_for_selector("html[data-target-map-ready]")
    assert page.locator("#target-value").inner_text().startswith("300 / 500")
    assert page.locator("table.by-town tbody tr").all_inner_texts() == ["乙镇\t300"]
    assert page.locator("#target-map path.leaflet-interactive").count() == 1
    view.assert_stayed_local()
    page.context.close()
