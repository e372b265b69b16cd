"""The maps in a real browser (Debian's Chromium via Playwright), against ``eqreg serve`` with
several workers over a database made for this module (tests/served.py).

Checks what only a browser can: the towns and projects are drawn, nothing is requested from
outside the machine (offline intranets), and no script fails. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import pytest

import served
from conftest import SERVED_PASSWORD


@pytest.fixture
def viewer(browser, served_app):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    served.sign_in(context, served_app.base, "map_viewer", SERVED_PASSWORD)
    yield served.Watched(context, served_app.base)
    context.close()


def test_district_map_draws_towns_and_projects_offline(viewer):
    viewer.open_map("/map")
    labels = sorted(viewer.page.locator(".eqreg-town-label").all_inner_texts())
    assert labels == sorted(["甲街道", "乙镇", "丙镇"])
    # 3 town polygons + 2 pipelines + 1 site drawn as SVG paths; the 2 point projects as markers
    assert viewer.count("svg path.leaflet-interactive") == 6
    assert viewer.count(".leaflet-marker-icon.eqreg-pt") == 2
    assert viewer.page.locator(".folium-map").get_attribute("data-eqreg-mode") == "features"
    assert "投资密度" in viewer.page.locator(".eqreg-legend").inner_text()
    assert viewer.page.evaluate("""() => {  // town labels stack above markers and clusters
        const z = el => Number(getComputedStyle(el.closest('.leaflet-pane')).zIndex);
        return z(document.querySelector('.eqreg-town-label')) > z(document.querySelector('.leaflet-marker-icon'));
    }""")

    fills = lambda: viewer.page.eval_on_selector_all(  # noqa: E731
        "svg path.leaflet-interactive", "ps => ps.slice(0, 3).map(p => p.getAttribute('fill'))")
    before = fills()
    viewer.page.locator("input[name=eqreg-metric][value=project_count]").check()
    assert fills() != before  # the choropleth follows the metric switch

    viewer.page.locator(".leaflet-marker-icon.eqreg-pt").first.click()
    link = viewer.page.locator(".leaflet-popup-content a")
    assert link.get_attribute("href").startswith("/projects/")
    popup = viewer.page.locator(".leaflet-popup-content").inner_text()
    assert "已完成投资" in popup and ("乙镇" in popup or "丙镇" in popup)
    assert viewer.page.locator(".leaflet-control-scale-line").count() == 1  # metric only, no miles
    assert "km" in viewer.page.locator(".leaflet-control-scale").inner_text()
    # Leaflet's own controls speak the UI language too
    assert viewer.page.locator(".leaflet-control-zoom-in").get_attribute("title") == "放大"
    assert viewer.page.locator(".leaflet-control-zoom-out").get_attribute("title") == "缩小"
    viewer.page.wait_for_timeout(400)  # let the popup fade in for the screenshot
    viewer.screenshot("map-district.png")
    viewer.assert_stayed_local()


def test_town_map_shows_the_towns_projects_and_figures(viewer):
    viewer.open_map("/towns/370499002")
    assert viewer.page.locator("aside h1").inner_text() == "乙镇"
    # all three towns as context, and only 乙镇's projects: the pipeline, the site, one point
    assert viewer.count("svg path.leaflet-interactive") == 5
    assert viewer.count(".leaflet-marker-icon.eqreg-pt") == 1
    viewer.screenshot("map-town.png")
    viewer.assert_stayed_local()


def test_crowded_view_is_drawn_as_grid_clusters(browser, served_database):
    with served.Served(served_database, workers=2, env={"EQREG_MAP_MAX_FEATURES": "2"}) as crowded:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        served.sign_in(context, crowded.base, "map_viewer", SERVED_PASSWORD)
        viewer = served.Watched(context, crowded.base)
        viewer.open_map("/map")
        assert viewer.page.locator(".folium-map").get_attribute("data-eqreg-mode") == "clusters"
        bubbles = viewer.page.locator(".eqreg-bubble").all_inner_texts()
        assert sum(int(n) for n in bubbles) == 5
        viewer.assert_stayed_local()
        context.close()


def _project_paths(viewer) -> list[dict]:
    """The drawn lines and polygons with their screen boxes."""
    paths = viewer.page.locator(".leaflet-eqreg-projects-pane path.leaflet-interactive")
    return [paths.nth(i).bounding_box() for i in range(paths.count())]


def test_line_and_polygon_popups_explain_the_project(viewer):
    viewer.open_map("/map")
    paths = _project_paths(viewer)
    assert len(paths) == 3  # two pipelines and the hospital site, above the town choropleth
    line = max(paths, key=lambda p: p["width"])  # 东西燃气管网更新, 117.05–117.25 along 35.05
    viewer.page.mouse.click(line["x"] + line["width"] * 0.25, line["y"] + line["height"] / 2)
    popup = viewer.page.locator(".leaflet-popup-content").inner_text()
    for text in ("东西燃气管网更新", "2024-370499-01-01-100002", "市政基础设施 · 在建", "800", "200",
                 "长度", "km", "甲街道 25", "乙镇 50", "丙镇 25", "查看项目"):
        assert text in popup, (text, popup)

    site = max(paths, key=lambda p: p["height"])  # 医院影像楼设备更新, 117.07–117.11: 甲 ¾, 乙 ¼
    centre = (site["x"] + site["width"] / 2, site["y"] + site["height"] / 2)
    on_top = viewer.page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('.leaflet-pane').className",
                                  list(centre))
    assert "eqreg-projects" in on_top  # drawn above the choropleth, not hidden by it
    viewer.page.mouse.click(*centre)
    popup = viewer.page.locator(".leaflet-popup-content", has_text="医院影像楼设备更新").inner_text()
    for text in ("医院影像楼设备更新", "医疗卫生 · 竣工投产", "面积", "km²", "甲街道 75", "乙镇 25"):
        assert text in popup, (text, popup)
    viewer.screenshot("map-polygon-popup.png")
    viewer.assert_stayed_local()


def test_search_box_finds_a_project_by_code_and_opens_its_popup(viewer):
    viewer.open_map("/map")
    viewer.page.fill(".eqreg-search input", "2024-370499-01-01-100005")
    viewer.page.press(".eqreg-search input", "Enter")
    popup = viewer.page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "甲街道供热管网" in popup.inner_text()
    viewer.page.fill(".eqreg-search input", "管网")  # two matches by name: a list to choose from
    viewer.page.press(".eqreg-search input", "Enter")
    choices = viewer.page.locator(".eqreg-search-results a")
    choices.first.wait_for()
    assert sorted(choices.all_inner_texts()) == ["东西燃气管网更新 · 2024-370499-01-01-100002",
                                                 "甲街道供热管网 · 2024-370499-01-01-100005"]
    choices.first.click()
    assert "东西燃气管网更新" in viewer.page.locator(".leaflet-popup-content", has_text="燃气").inner_text()
    viewer.assert_stayed_local()
