"""The map drawn from vector tiles (EQREG_MAP_TILES_ABOVE=0: always) in a real browser, against
``eqreg serve`` with several workers: the same dots, lines, areas, popups and stage-coloured
clusters as the features endpoint gives small registries (tests/test_browser.py)."""
from __future__ import annotations

import pytest

import served
from conftest import SERVED_PASSWORD

TILE_PATHS = ".leaflet-eqreg-projects-pane svg.leaflet-tile path.leaflet-interactive"
TILE_DOTS = ".leaflet-eqreg-projects-pane svg.leaflet-tile circle.leaflet-interactive"


@pytest.fixture(scope="module")
def tiled_app(served_database):
    with served.Served(served_database, workers=2, env={"EQREG_MAP_TILES_ABOVE": "0"}) as app:
        yield app


def open_viewer(browser, app, username: str = "map_viewer"):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    served.sign_in(context, app.base, username, SERVED_PASSWORD)
    return context, served.Watched(context, app.base)


def test_tiles_draw_the_projects_and_a_click_opens_the_popup(browser, tiled_app):
    context, viewer = open_viewer(browser, tiled_app)
    viewer.open_map("/map")
    assert viewer.page.locator(".folium-map").get_attribute("data-eqreg-mode") == "tiles"
    assert any("/api/v1/map/tiles/" in u for u in viewer.requests)
    assert not any("/api/v1/map/features" in u for u in viewer.requests)
    assert viewer.count(TILE_DOTS) >= 2  # the two point projects (a tile edge may repeat one)
    assert viewer.count(TILE_PATHS) >= 3  # two pipelines and the hospital site
    colours = set(viewer.page.eval_on_selector_all(TILE_DOTS, "cs => cs.map(c => c.getAttribute('fill'))"))
    assert colours == {"#ff7f00", "#8c8c8c"}  # 在建, 谋划储备: the stage colours of the legend

    dot = viewer.page.locator(TILE_DOTS).first.bounding_box()
    viewer.page.mouse.click(dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
    popup = viewer.page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert ("乙镇智能工厂改造" in text or "丙镇粮食烘干中心" in text) and "总投资" in text and "查看项目" in text
    assert popup.locator("a").get_attribute("href").startswith("/projects/")

    viewer.page.keyboard.press("Escape")
    line = max((viewer.page.locator(TILE_PATHS).nth(i).bounding_box()
                for i in range(viewer.count(TILE_PATHS))), key=lambda box: box["width"])
    viewer.page.mouse.click(line["x"] + line["width"] * 0.25, line["y"] + line["height"] / 2)
    popup = viewer.page.locator(".leaflet-popup-content", has_text="东西燃气管网更新")
    popup.wait_for()
    for part in ("2024-370499-01-01-100002", "市政基础设施 · 在建", "长度", "甲街道 25", "乙镇 50", "丙镇 25"):
        assert part in popup.inner_text(), part
    viewer.screenshot("map-tiles-popup.png")
    viewer.assert_stayed_local()
    context.close()


def test_town_official_tiles_hold_only_their_projects(browser, tiled_app):
    context, viewer = open_viewer(browser, tiled_app, "yizhen")  # 乙镇
    viewer.open_map("/towns/370499002")
    assert any("/api/v1/map/tiles/" in u and "town=370499002" in u for u in viewer.requests)
    assert viewer.count(TILE_DOTS) >= 1 and viewer.count(TILE_PATHS) >= 2  # 智能工厂; pipeline and site
    fills = set(viewer.page.eval_on_selector_all(TILE_DOTS, "cs => cs.map(c => c.getAttribute('fill'))"))
    assert fills == {"#ff7f00"}  # 丙镇's reserve-stage dryer is not drawn
    viewer.assert_stayed_local()
    context.close()


def test_crowded_tiles_show_stage_coloured_cluster_bubbles_that_zoom_in(browser, served_database):
    env = {"EQREG_MAP_TILES_ABOVE": "0", "EQREG_MAP_TILE_MAX_FEATURES": "1"}
    with served.Served(served_database, workers=2, env=env) as app:
        context, viewer = open_viewer(browser, app)
        viewer.open_map("/map")
        bubbles = viewer.page.locator(".eqreg-vt-bubble")
        assert bubbles.count() >= 1
        counts = [int(n) for n in viewer.page.eval_on_selector_all(
            ".eqreg-vt-bubble text", "ts => ts.map(t => t.textContent)")]
        assert all(n >= 1 for n in counts) and sum(counts) <= 5
        stage_colours = {"#8c8c8c", "#1f78b4", "#ff7f00", "#33a02c", "#6a3d9a", "#b15928"}
        assert set(viewer.page.eval_on_selector_all(
            ".eqreg-vt-bubble circle", "cs => cs.map(c => c.getAttribute('fill'))")) <= stage_colours
        # a bubble not partly under a neighbouring tile (the sample sits on a z12 tile edge)
        centre = viewer.page.evaluate("""() => {
            for (const g of document.querySelectorAll('.eqreg-vt-bubble')) {
                const r = g.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
                if (document.elementFromPoint(x, y).closest('.eqreg-vt-bubble') === g) { return [x, y]; }
            }
        }""")
        assert centre, "every cluster bubble is covered"
        viewer.page.mouse.move(*centre)
        tooltip = viewer.page.locator(".leaflet-tooltip", has_text="个项目")
        tooltip.wait_for()
        assert any(stage in tooltip.inner_text() for stage in ("在建", "竣工投产", "谋划储备", "前期手续"))
        zoom = viewer.page.evaluate("() => Object.values(window).find(v => v && v._zoom !== undefined && v.getZoom)"
                                    ".getZoom()")
        viewer.page.mouse.click(*centre)
        viewer.page.wait_for_function("z => Object.values(window).find(v => v && v._zoom !== undefined && v.getZoom)"
                                      ".getZoom() === z + 2", arg=zoom)
        viewer.screenshot("map-tiles-clusters.png")
        viewer.assert_stayed_local()
        context.close()
