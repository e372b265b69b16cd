"""The maps in a real browser (Debian's Chromium via Playwright), against a live app on 127.0.0.1.

Checks what only a browser can: the towns and projects are drawn, nothing is requested from
outside the machine (offline intranets), and no script fails. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from web.maps import features as map_features

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORD = "map viewer password"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app, web_data):
    """The app served on a free port of 127.0.0.1 from a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


class Watched:
    """A page that records every request, uncaught error and console error."""

    def __init__(self, context, base_url: str):
        self.base = base_url
        self.page = context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("console", lambda message: message.type == "error"
                     and self.errors.append(f"console: {message.text}"))

    def open_map(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("html[data-map-ready]", timeout=15000)
        self.page.wait_for_load_state("networkidle")

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def assert_stayed_local(self) -> None:
        outside = [u for u in self.requests if urlsplit(u).scheme not in ("data", "blob")
                   and urlsplit(u).hostname != "127.0.0.1"]
        assert outside == [], outside
        assert self.errors == [], self.errors


def sign_in(context, base_url: str, username: str) -> None:
    """Sign in through the login form (on its own page: only the map pages are watched)."""
    page = context.new_page()
    page.goto(base_url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.locator("form [type=submit]").first.click()
    page.close()


@pytest.fixture
def viewer(browser, live_server, make_user):
    make_user("planner", username="map_viewer", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    sign_in(context, live_server, "map_viewer")
    yield Watched(context, live_server)
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
    ARTIFACTS.mkdir(exist_ok=True)
    viewer.page.screenshot(path=str(ARTIFACTS / "map-district.png"))
    viewer.assert_stayed_local()


def test_town_map_shows_the_towns_projects_and_figures(viewer):
    viewer.open_map("/towns/370499002")
    assert viewer.page.locator("aside h1").inner_text() == "乙镇"
    # all three towns as context, and only 乙镇's projects: the pipeline, the site, one point
    assert viewer.count("svg path.leaflet-interactive") == 5
    assert viewer.count(".leaflet-marker-icon.eqreg-pt") == 1
    ARTIFACTS.mkdir(exist_ok=True)
    viewer.page.screenshot(path=str(ARTIFACTS / "map-town.png"))
    viewer.assert_stayed_local()


def test_crowded_view_is_drawn_as_grid_clusters(viewer, monkeypatch):
    monkeypatch.setattr(map_features, "MAX_FEATURES", 2)
    viewer.open_map("/map")
    assert viewer.page.locator(".folium-map").get_attribute("data-eqreg-mode") == "clusters"
    bubbles = viewer.page.locator(".eqreg-bubble").all_inner_texts()
    assert sum(int(n) for n in bubbles) == 5
    viewer.assert_stayed_local()
