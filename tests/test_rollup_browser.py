"""The roll-up in a real browser (Debian's Chromium via Playwright) against ``eqreg serve`` with
several workers: a province viewer walks province → city → district (on the map) → district map →
town page, and each page shows that level's figures. Three districts in two cities: 测试区 and
邻区 (枣庄 3704), 远区 (聊城 3715), from tests/conftest.py.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

import served
from conftest import insert_other_districts
from registry import accounts
from registry import db as registry_db

PASSWORD = "province viewer password"


@pytest.fixture(scope="module")
def rollup_app(served_database):
    engine = registry_db.make_engine(served_database)
    with Session(engine) as session:
        insert_other_districts(session)
        session.commit()
        accounts.create_user(session, actor="test", username="shandong", role="viewer", provinces=["37"],
                             password=PASSWORD)
        expected = {r.code: r.n for r in session.execute(text(
            "SELECT district_code AS code, count(*) AS n FROM projects WHERE deleted_at IS NULL GROUP BY 1"))}
    engine.dispose()
    with served.Served(served_database, workers=3) as app:
        yield app, expected


@pytest.fixture
def viewer(browser, rollup_app):
    app, _ = rollup_app
    context = browser.new_context(viewport={"width": 1366, "height": 800}, locale="zh-CN")
    served.sign_in(context, app.base, "shandong", PASSWORD)
    yield served.Watched(context, app.base)
    context.close()


def _row(viewer, table: str, code: str) -> list[str]:
    return viewer.page.locator(f"#{table} tr[data-code='{code}'] td").all_inner_texts()


def test_a_province_viewer_walks_down_to_a_town(viewer, rollup_app):
    _, expected = rollup_app
    page = viewer.page
    viewer.open_map("/rollup")  # the landing goes to the viewer's province
    assert page.url.endswith("/rollup/province/37")
    assert page.locator("h1").inner_text().startswith("山东省")
    assert viewer.count("svg path.leaflet-interactive") == 3  # the three districts, coloured
    assert _row(viewer, "rollup-cities", "3704")[1:3] == ["2", str(expected["370499"] + expected["370498"])]
    assert _row(viewer, "rollup-cities", "3715")[1:3] == ["1", str(expected["371599"])]
    assert page.locator("#rollup-totals").inner_text().count(str(sum(expected.values()))) >= 1
    fills = page.eval_on_selector_all("svg path.leaflet-interactive", "ps => ps.map(p => p.getAttribute('fill'))")
    assert len(set(fills)) == 2  # 测试区 darker than the other two, by investment density
    legend = page.locator(".eqreg-legend").inner_text()
    page.locator("input[name=eqreg-metric][value=project_count]").check()
    assert page.locator(".eqreg-legend").inner_text() != legend  # the switch redraws the classes
    assert "≤ 2" in page.locator(".eqreg-legend").inner_text()  # project counts 2, 5, 2
    viewer.screenshot("rollup-province.png")

    with page.expect_navigation():
        page.locator("#rollup-cities a", has_text="枣庄市").click()
    page.wait_for_selector("html[data-map-ready]")
    assert page.url.endswith("/rollup/city/3704")
    assert viewer.count("svg path.leaflet-interactive") == 2
    assert _row(viewer, "rollup-districts", "370499")[1] == str(expected["370499"])
    assert "远区" not in page.locator("main").inner_text()

    page.locator("svg path[data-district='370499']").click()  # the district on the map
    popup = page.locator(".leaflet-popup-content")
    assert "测试区" in popup.inner_text()
    with page.expect_navigation():
        popup.locator("a.eqreg-district-link").click()
    page.wait_for_selector("html[data-map-ready]")
    assert page.url.endswith("/map?district=370499")
    labels = sorted(page.locator(".eqreg-town-label").all_inner_texts())
    assert labels == sorted(["甲街道", "乙镇", "丙镇"])

    page.goto(viewer.base + "/map?district=370498")  # the viewer's other district of the city
    page.wait_for_selector("html[data-map-ready]")
    assert sorted(page.locator(".eqreg-town-label").all_inner_texts()) == ["邻区1镇", "邻区2镇"]
    # click 邻区1镇 near its south-west corner, away from its projects (in the middle of the town)
    x, y = page.evaluate("""() => {
        const div = document.querySelector('.folium-map'), map = window[div.id];
        const p = map.latLngToContainerPoint([35.215, 117.015]), box = div.getBoundingClientRect();
        return [box.left + p.x, box.top + p.y]; }""")
    page.mouse.click(x, y)
    with page.expect_navigation():
        page.locator(".leaflet-popup-content a", has_text="镇街").click()
    page.wait_for_selector("html[data-map-ready]")
    assert page.url.endswith("/towns/370498001")
    figures = page.locator("aside").inner_text()
    assert "邻区1镇" in figures and "项目数" in figures
    viewer.assert_stayed_local()
