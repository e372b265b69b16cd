"""The targets pages in a real browser (Debian's Chromium via Playwright): the bureau opens
/targets, sees a behind target, opens it (choropleth drawn) and follows a project link; a town
official sees only their town's part."""
from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import served
from target_data import PLAN, TOWN2, insert_world

PASSWORD = "targets page password"
ACCOUNTS = {"target_clerk": ("bureau", ()), "yizhen": ("town", (TOWN2,))}


@pytest.fixture(scope="module")
def target_server(database_url):
    """``eqreg serve --workers 3`` over a database of this module: 测试区's target world, PLAN
    loaded and one account per role, all committed (DESIGN §9)."""
    from registry import accounts, targets
    from registry import db as registry_db
    from registry.scope import Scope
    name = f"{make_url(database_url).database}_targets_browser"
    with served.module_database(database_url, name) as url:
        engine = registry_db.make_engine(url)
        with Session(engine) as session:
            insert_world(session)
            session.commit()
            targets.load_file(session, Scope.system("test"), PLAN.read_bytes())
            session.commit()
            for username, (role, towns) in ACCOUNTS.items():
                accounts.create_user(session, actor="test", username=username, role=role, towns=towns,
                                     password=PASSWORD)
        engine.dispose()
        with served.Served(url, workers=3) as app:
            yield app.base


def watched(browser, base: str, username: str) -> served.Watched:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    served.sign_in(context, base, username, PASSWORD)
    return served.Watched(context, base)


def test_bureau_follows_a_behind_target_to_a_project(browser, target_server):
    view = watched(browser, target_server, "target_clerk")
    page = view.page
    page.goto(target_server + "/targets?as_of=2025-06-30")
    row = page.locator("tr.target-row.status-behind", has_text="投资过500万元的工业项目")
    assert row.locator(".target-status").inner_text() == "滞后"
    assert row.locator("svg.target-bar line.pace").count() == 1
    served.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(served.ARTIFACTS / "targets.png"), full_page=True)

    row.locator("a").first.click()
    page.wait_for_selector("html[data-target-map-ready]")
    assert page.locator("h1").inner_text() == "到2025年，投资过500万元的工业项目4个"
    assert page.locator("#target-map path.leaflet-interactive").count() == 3  # the three towns
    page.screenshot(path=str(served.ARTIFACTS / "target.png"), full_page=True)

    link = page.locator("table.counted a", has_text="项目ind-600")
    with page.expect_navigation():
        link.click()
    assert "/projects/" in page.url
    assert "项目ind-600" in page.locator("h1").inner_text()
    view.assert_stayed_local()
    page.context.close()


def test_town_official_sees_only_their_towns_part(browser, target_server):
    view = watched(browser, target_server, "yizhen")
    page = view.page
    page.goto(target_server + "/targets/t-equipment?as_of=2025-06-30")
    page.wait_for_selector("html[data-target-map-ready]")
    assert page.locator("#target-value").inner_text().startswith("300 / 500")
    assert page.locator("table.by-town tbody tr").all_inner_texts() == ["乙镇\t300"]
    assert page.locator("#target-map path.leaflet-interactive").count() == 1
    view.assert_stayed_local()
    page.context.close()
