"""Benchmark: the province roll-up page (issue 14 item 2): its HTML size and time to usable.

``--database-url`` names an existing populated database (e.g. 136 districts × 1M projects made by
``bench/province_data.py``); without it a small one is built in SQL (``--districts`` round districts
of 800-vertex outlines in province 37, with ``--n`` projects spread over them). Either way a viewer of
the province is added (``bench_rollup_viewer``, when missing) and the app is served with
``eqreg serve --workers 2`` (tests/served.py). In headless Chromium (cold cache each run) it opens
``/rollup/province/<code>`` and, side by side as the reference, the district map of the busiest
district (``/map?district=…``, DESIGN §7's map page). "Usable" is ``html[data-map-ready]``, set by
web/static/js/rollup_map.js once the districts are coloured (ms since navigation start).

Figures (JSON lines, ``common.record_figure``): the page's HTML against 1 MB, and its time to usable
against the district map's (≤ 1.5×); medians of ``--repeat`` (3).

    .venv/bin/python bench/rollup_map.py                       # builds a small database
    .venv/bin/python bench/rollup_map.py --database-url postgresql://…/eqreg_bench_province
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import served  # noqa: E402  (tests/served.py: eqreg serve, Chromium, sign-in)

from bench import common  # noqa: E402

SCRATCH_URL = common.DEFAULT_URL.rsplit("/", 1)[0] + "/eqreg_bench_rollup"
USER, PASSWORD = "bench_rollup_viewer", "bench rollup viewer password"
HTML_BUDGET_MB, USABLE_BUDGET_RATIO = 1.0, 1.5

# Districts on a grid over 山东 (province 37), 16 to a city, each a circle of 800 vertices (real
# outlines are detailed: the page must simplify them), one town each; projects are points.
BUILD = """
INSERT INTO districts (code, name, geom, geom_source, area_km2)
SELECT '37' || lpad((1 + (i - 1) / 16)::text, 2, '0') || lpad((1 + (i - 1) % 16)::text, 2, '0'),
       '基准区' || i, g, 'outline', ST_Area(g::geography) / 1e6
FROM generate_series(1, {districts}) i,
     LATERAL (SELECT ST_Multi(ST_Buffer(ST_MakePoint(115.5 + ((i - 1) % 12) * 0.27, 34.6 + ((i - 1) / 12) * 0.27),
                                        0.13, 'quad_segs=200')) AS g) s;
INSERT INTO towns (district_code, code, name, geom, area_km2)
SELECT code, code || '001', name || '一镇', geom, area_km2 FROM districts;
INSERT INTO projects (district_code, code, name, domain_code, owner, geom, total_investment,
                      completed_investment, stage, created_by)
SELECT d.code, '2024-' || d.code || '-' || lpad(p.i::text, 10, '0'), '基准项目' || p.i,
       (ARRAY['industry','municipal','medical','agriculture','transport'])[1 + p.i % 5], '基准单位',
       ST_PointOnSurface(d.geom), 50 + (p.i * 7919) % 10000,
       CASE WHEN p.i % 3 = 0 THEN 50 + (p.i * 7919) % 10000 END,
       (ARRAY['reserve','approval','construction','completed'])[1 + p.i % 4], 'bench'
FROM generate_series(1, {n}) p(i)
JOIN (SELECT code, geom, row_number() OVER (ORDER BY code) - 1 AS k FROM districts) d
  ON d.k = p.i % {districts};
"""


def build(url: str, n: int, districts: int) -> None:
    common.fresh_database(url, towns=False)
    common.psql(url, "-c", BUILD.format(n=n, districts=districts))
    common.psql(url, "-c", "VACUUM ANALYZE")


def prepare_viewer(url: str) -> str:
    """The province with most districts, and a viewer of it (added when missing)."""
    province = common.scalar(url, "SELECT province_code FROM districts WHERE province_code IS NOT NULL "
                                  "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
    if common.scalar(url, f"SELECT count(*) FROM users WHERE username = '{USER}'") == "0":
        common.eqreg(url, "users", "add", USER, "--role", "viewer", "--province", province, "--password-stdin",
                     stdin=PASSWORD + "\n")
    return province


def busiest_district(url: str) -> str:
    return common.scalar(url, "SELECT district_code FROM projects GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")


def measure(base: str, repeat: int, pages: dict[str, str]) -> dict[str, dict[str, list]]:
    """Each page ``repeat`` times, alternating, in a fresh context (cold cache)."""
    from playwright.sync_api import sync_playwright
    results = {name: {"html_bytes": [], "html_ms": [], "usable_ms": [], "outside": []} for name in pages}
    with sync_playwright() as playwright:
        browser = served.launch_chromium(playwright)
        for _ in range(repeat):
            for name, path in pages.items():
                context = browser.new_context(viewport={"width": 1366, "height": 768})
                served.sign_in(context, base, USER, PASSWORD, landing=path)
                page = context.new_page()
                requested = []
                page.on("request", lambda r: requested.append(r.url))
                response = page.goto(base + path)
                page.wait_for_selector("html[data-map-ready]", timeout=120_000)
                out = results[name]
                out["html_bytes"].append(len(response.body()))
                out["usable_ms"].append(int(page.get_attribute("html", "data-map-ready")))
                out["html_ms"].append(page.evaluate("performance.getEntriesByType('navigation')[0].responseEnd"))
                out["outside"].append(sum(1 for u in requested if not served.is_local(u)))
                context.close()
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="province roll-up page: HTML size and time to usable")
    parser.add_argument("--database-url", help="an existing populated database (not changed but for a viewer "
                                               "account); without it a small one is built")
    parser.add_argument("--scratch-url", default=os.environ.get("BENCH_DATABASE_URL", SCRATCH_URL),
                        help="where the small database is built (default %(default)s)")
    parser.add_argument("--n", type=int, default=20_000, help="projects of the small database")
    parser.add_argument("--districts", type=int, default=136, help="districts of the small database")
    parser.add_argument("--repeat", type=int, default=3, help="runs per page; the median is reported")
    args = parser.parse_args()
    common.setup_logging()
    url = args.database_url
    if url is None:
        url = args.scratch_url
        build(url, args.n, args.districts)
    province = prepare_viewer(url)
    districts = int(common.scalar(url, f"SELECT count(*) FROM districts WHERE province_code = '{province}'"))
    projects = int(common.scalar(url, "SELECT count(*) FROM projects"))
    pages = {"rollup": f"/rollup/province/{province}", "district_map": f"/map?district={busiest_district(url)}"}
    with served.Served(url, workers=2) as app:
        results = measure(app.base, args.repeat, pages)
    html_mb = statistics.median(results["rollup"]["html_bytes"]) / 1e6
    usable = statistics.median(results["rollup"]["usable_ms"])
    reference = statistics.median(results["district_map"]["usable_ms"])
    common.print_table(["measure", "median", "budget", "verdict"], [
        ("districts / projects", f"{districts} / {projects}", "", ""),
        ("roll-up HTML (MB)", html_mb, HTML_BUDGET_MB, common.verdict(html_mb, HTML_BUDGET_MB)),
        ("roll-up HTML response end (ms)", statistics.median(results["rollup"]["html_ms"]), "", ""),
        ("roll-up time to usable (ms)", usable, "", ""),
        ("district map time to usable (ms)", reference, "", ""),
        ("ratio", usable / reference, USABLE_BUDGET_RATIO, common.verdict(usable / reference, USABLE_BUDGET_RATIO)),
        ("requests off 127.0.0.1", max(results["rollup"]["outside"]), 0, ""),
    ])
    common.record_figure(f"province roll-up page HTML, {districts} districts", ours=html_mb,
                         reference=HTML_BUDGET_MB, unit="MB", rows=projects, max_ratio=1.0)
    common.record_figure(f"province roll-up page usable vs district map, {districts} districts",
                         ours=usable / 1000, reference=reference / 1000, unit="s", rows=projects,
                         max_ratio=USABLE_BUDGET_RATIO)
    print(json.dumps({"districts": districts, "projects": projects, **results}, ensure_ascii=False))
    os.system("uptime")  # the load average: other work on the machine skews the times


if __name__ == "__main__":
    main()
