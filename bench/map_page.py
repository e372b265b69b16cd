"""Benchmark: the district map page at N projects (DESIGN §7: HTML ≤ 1.5 MB, usable ≤ 3 s).

Builds a scratch database with the demo district's towns and N generated projects, serves the
app with ``eqreg serve --workers 2`` on 127.0.0.1 (tests/served.py), and opens ``/map`` in headless Chromium (cold cache each run).
"Usable" is the moment the towns are styled and the first project layer of the view is drawn
(``html[data-map-ready]``, set by web/static/js/project_map.js, in ms since navigation start).
Also reports the features endpoint at district extent (grid clusters) and zoomed in.

    .venv/bin/python bench/map_page.py --n 100000
"""
from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import served  # noqa: E402  (tests/served.py: eqreg serve, Chromium, sign-in)

from bench import common  # noqa: E402
from bench.generate_projects import generate_projects  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:54329/eqreg_bench"
HTML_BUDGET_MB, USABLE_BUDGET_S = 1.5, 3.0
SCREENSHOT = common.REPO / "bench" / "out" / "map_page.png"
USER, PASSWORD = "bench_viewer", "bench viewer password"


def prepare(url: str, n: int, reuse: bool) -> None:
    """The scratch database with the demo towns, ``n`` projects and a planner account."""
    if reuse and _count(url) == n:
        common.log.info("reusing %s with %d projects", common.database_name(url), n)
        return
    common.fresh_database(url)
    generate_projects(url, district_code=common.DEMO_DISTRICT, n=n)
    common.eqreg(url, "users", "add", USER, "--role", "planner", "--password-stdin", stdin=PASSWORD + "\n")
    common.psql(url, "-c", "VACUUM ANALYZE")


def _count(url: str) -> int:
    try:
        return int(common.scalar(url, "SELECT count(*) FROM projects"))
    except Exception:  # noqa: BLE001 - no database yet
        return -1


def view_boxes(url: str) -> tuple[str, str]:
    """The district's extent and a zoom-16-sized box (about 1.4 × 0.8 km) at its busiest spot."""
    extent = common.scalar(url, "SELECT concat_ws(',', ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) "
                                "FROM (SELECT ST_Extent(geom) e FROM towns WHERE valid_to IS NULL) s")
    x, y = map(float, common.scalar(url, """
        SELECT concat_ws(',', ST_X(c), ST_Y(c)) FROM (
            SELECT ST_Centroid(ST_Collect(ST_PointOnSurface(geom))) c, count(*) n
            FROM projects GROUP BY ST_SnapToGrid(ST_PointOnSurface(geom), 0.02)
            ORDER BY n DESC LIMIT 1) s""").split(","))
    return extent, f"{x - 0.0075:.5f},{y - 0.0035:.5f},{x + 0.0075:.5f},{y + 0.0035:.5f}"


def measure(base: str, repeat: int, boxes: tuple[str, str]) -> dict:
    from playwright.sync_api import sync_playwright
    results = {"html_bytes": [], "html_ms": [], "usable_ms": [], "transferred": [], "outside": [], "extent_api_ms": [],
               "zoomed_api_ms": []}
    with sync_playwright() as playwright:
        browser = served.launch_chromium(playwright)
        for _ in range(repeat):
            context = browser.new_context(viewport={"width": 1366, "height": 768})  # cold cache
            served.sign_in(context, base, USER, PASSWORD)
            page = context.new_page()
            responses, requested = [], []
            page.on("response", lambda r: responses.append(r))
            # requests, not responses: offline, a request to another host never gets one
            page.on("request", lambda r: requested.append(r.url))
            response = page.goto(base + "/map")
            page.wait_for_selector("html[data-map-ready]", timeout=60_000)
            results["html_bytes"].append(len(response.body()))
            results["usable_ms"].append(int(page.get_attribute("html", "data-map-ready")))
            results["html_ms"].append(page.evaluate(
                "performance.getEntriesByType('navigation')[0].responseEnd"))
            page.wait_for_load_state("networkidle")
            # sizes() needs no body, so a superseded features request does not break the count
            sizes = {r.url: r.request.sizes()["responseBodySize"] for r in responses if r.ok}
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
            results["transferred"].append(sum(sizes.values()))
            results["outside"].append(sum(1 for u in requested if not served.is_local(u)))
            results["extent_api_ms"].append(_api_ms(page, base, boxes[0], 11))
            results["zoomed_api_ms"].append(_api_ms(page, base, boxes[1], 16))
            context.close()
        browser.close()
    return results


def _api_ms(page, base: str, bbox: str, zoom: int) -> float:
    """Time one features request from inside the signed-in page (fetch, parse)."""
    return page.evaluate("""async ([url]) => {
        const t = performance.now(); const r = await fetch(url); await r.json();
        return performance.now() - t; }""", [f"{base}/api/v1/map/features?bbox={bbox}&zoom={zoom}"])


def main() -> None:
    parser = common.arguments("district map page: HTML size and time to usable", n=100_000)
    parser.set_defaults(database_url=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="keep the database when it has N projects")
    args = parser.parse_args()
    common.setup_logging()
    prepare(args.database_url, args.n, args.reuse)
    with served.Served(args.database_url, workers=2) as app:
        results = measure(app.base, args.repeat, view_boxes(args.database_url))
    html_mb = statistics.median(results["html_bytes"]) / 1e6
    usable_s = statistics.median(results["usable_ms"]) / 1000
    common.print_table(["measure", "median", "budget", "verdict"], [
        ("projects", args.n, "", ""),
        ("/map HTML (MB)", html_mb, HTML_BUDGET_MB, common.verdict(html_mb, HTML_BUDGET_MB)),
        ("/map HTML response end (ms)", statistics.median(results["html_ms"]), "", ""),
        ("time to usable (s)", usable_s, USABLE_BUDGET_S, common.verdict(usable_s, USABLE_BUDGET_S)),
        ("all responses (MB)", statistics.median(results["transferred"]) / 1e6, "", ""),
        ("requests off 127.0.0.1", max(results["outside"]), 0, "ok" if max(results["outside"]) == 0 else "MISSED"),
        ("features API, district extent (ms)", statistics.median(results["extent_api_ms"]), "", ""),
        ("features API, zoom 16 (ms)", statistics.median(results["zoomed_api_ms"]), "", ""),
    ])
    print(json.dumps(results, ensure_ascii=False))
    os.system("uptime")  # the load average: other work on the machine skews the times


if __name__ == "__main__":
    main()
