"""The pages a town official opens on a phone (390 px wide), against ``eqreg serve``: the map's
controls fold into one button, tables become cards, nothing is wider than the screen."""
from __future__ import annotations

import pytest

import served
from conftest import SERVED_PASSWORD

PHONE = {"width": 390, "height": 844}
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def phone(browser, served_app):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    served.sign_in(context, served_app.base, "yizhen", SERVED_PASSWORD)
    yield served.Watched(context, served_app.base)
    context.close()


def test_phone_map_folds_its_controls_into_one_button(phone):
    phone.open_map("/map")
    page = phone.page
    assert page.evaluate(OVERFLOW) <= 0
    box = page.locator(".folium-map").bounding_box()
    assert box["width"] >= PHONE["width"] - 20 and box["height"] >= 360  # the map fills the screen
    assert page.locator("svg path.leaflet-interactive").count() > 0  # towns and projects drawn
    folded = (".leaflet-control-layers", ".eqreg-legend", ".eqreg-basemaps")
    assert [page.locator(s).is_visible() for s in folded] == [False, False, False]
    toggle = page.locator(".eqreg-controls-toggle")
    assert toggle.is_visible() and toggle.inner_text() == "图层与图例"
    toggle.tap()
    assert [page.locator(s).is_visible() for s in folded] == [True, True, True]
    phone.screenshot("map-phone-open.png")
    toggle.tap()
    assert page.locator(".eqreg-legend").is_visible() is False
    phone.screenshot("map-phone.png")
    phone.assert_stayed_local()


def test_phone_project_list_and_dashboard_are_cards_without_sideways_scrolling(phone):
    page = phone.page
    page.goto(phone.base + "/projects")
    assert page.evaluate(OVERFLOW) <= 0
    assert page.locator("table.projects thead").is_visible() is False
    first = page.locator("table.projects tbody tr").first
    assert first.bounding_box()["width"] <= PHONE["width"]
    cell = first.locator("td").nth(1)
    assert page.evaluate("td => getComputedStyle(td, '::before').content", cell.element_handle()) == '"项目名称"'
    phone.screenshot("projects-phone.png")
    page.goto(phone.base + "/")
    assert page.evaluate(OVERFLOW) <= 0
    phone.screenshot("dashboard-phone.png")
    assert phone.errors == []


def test_phone_targets_and_monthly_pages_fit_the_screen(phone, served_database):
    from pathlib import Path

    from sqlalchemy.orm import Session

    from registry import db as registry_db
    from registry import targets
    from registry.scope import Scope
    engine = registry_db.make_engine(served_database)
    with Session(engine) as session:
        plan = Path(__file__).parent / "fixtures" / "targets" / "plan.yaml"
        targets.load_file(session, Scope.system("test"), plan.read_bytes())
        session.commit()
    engine.dispose()
    page = phone.page
    for path in ("/targets?as_of=2025-06-30", "/targets/t-count?as_of=2025-06-30", "/progress/missing?period=2025-06"):
        page.goto(phone.base + path)
        assert page.evaluate(OVERFLOW) <= 0, path
    page.goto(phone.base + "/targets?as_of=2025-06-30")
    assert page.locator("table.targets tbody tr").count() > 1
    assert page.locator("table.targets thead").is_visible() is False
    phone.screenshot("targets-phone.png")
    assert phone.errors == []
