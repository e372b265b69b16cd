"""Registering a project in a real browser: sign in as the bureau, draw a line on the form's map
(Leaflet.draw), see the town preview, save, and find the project on the district map."""
from __future__ import annotations

import served
from conftest import SERVED_PASSWORD


def test_bureau_draws_a_pipeline_saves_it_and_finds_it_on_the_map(browser, served_app):
    base = served_app.base
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    served.sign_in(context, base, "registrar", SERVED_PASSWORD)
    watched = served.Watched(context, base)
    page = watched.page
    failed: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failed.append(r.url))
    page.goto(base + "/projects/new")
    page.wait_for_selector("#draw-map path.leaflet-interactive, #draw-map svg path", timeout=15000)
    page.wait_for_load_state("networkidle")
    page.fill("#f-code", "2025-370499-01-01-900001")
    page.fill("#f-name", "乙镇东西向供水管网更新")
    page.select_option("#f-domain", "municipal")
    page.fill("#f-category", "供水设施")
    page.fill("#f-owner", "测试水务公司")
    page.fill("#f-total_investment", "880")
    page.select_option("#f-stage", "approval")

    box = page.locator("#draw-map").bounding_box()
    page.locator(".leaflet-draw-draw-polyline").click()
    y = box["y"] + box["height"] * 0.5
    for fraction in (0.42, 0.58):  # across the middle of the district: 乙镇 (and maybe a neighbour)
        page.mouse.click(box["x"] + box["width"] * fraction, y)
        page.wait_for_timeout(150)
    assert page.locator(".leaflet-draw-draw-polyline").get_attribute("title") == "画线"  # Leaflet.draw in Chinese
    page.locator(".leaflet-draw-actions a", has_text="完成").first.click()
    page.wait_for_selector("#preview-towns tbody tr td.num", timeout=10000)
    assert "乙镇" in page.locator("#preview-towns").inner_text()
    assert '"LineString"' in page.locator("#f-geometry").input_value()

    watched.screenshot("project-form-drawn.png")
    with page.expect_navigation():
        page.locator("form.project-form button[type=submit]").click()
    assert "/projects/" in page.url and "乙镇东西向供水管网更新" in page.locator("h1").inner_text()

    page.goto(base + "/map")
    page.wait_for_selector("html[data-map-ready]", timeout=15000)
    page.wait_for_load_state("networkidle")
    # 3 towns, the 2 sample pipelines, the sample site and the new pipeline
    assert page.locator("svg path.leaflet-interactive").count() == 7
    assert failed == []
    watched.assert_stayed_local()
    context.close()


def test_a_line_typed_past_the_district_edge_is_shown_with_the_length_outside(browser, served_app):
    """The preview warns before saving (DESIGN §4 ``partly_outside``): 0.05° of the line lies
    east of 测试区, about 4.6 km."""
    base = served_app.base
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    served.sign_in(context, base, "registrar", SERVED_PASSWORD)
    watched = served.Watched(context, base)
    page = watched.page
    page.goto(base + "/projects/new")
    page.wait_for_load_state("networkidle")
    page.fill("#f-wkt", "LINESTRING(117.25 35.05, 117.35 35.05)")
    page.locator("#show-typed").click()
    page.wait_for_selector("#preview-towns tbody tr td.num", timeout=10000)
    message = page.locator("#preview-message").inner_text()
    assert "区外长度约 4.5" in message or "区外长度约 4.6" in message, message
    assert "丙镇" in page.locator("#preview-towns").inner_text()
    watched.screenshot("project-form-partly-outside.png")
    watched.assert_stayed_local()
    context.close()
