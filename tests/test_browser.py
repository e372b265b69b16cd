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

    fills = lambda: viewer.page.eval_on_selector_all(  # noqa: E731
        "svg path.leaflet-interactive", "ps => ps.slice(0, 3).map(p => p.getAttribute('fill'))")
    before = fills()
    viewer.page.locator("input[name=eqreg-metric][value=project_count]").check()
    assert fills() != before  # the choropleth follows the metric switch

    viewer.page.locator(".leaflet-marker-icon.eqreg-pt").first.click()
    link = viewer.page.locator(".leaflet-popup-content a")
    assert link.get_attribute("href").startswith("/projects/")
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
