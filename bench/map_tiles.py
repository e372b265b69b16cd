"""Benchmark: the map at N projects drawn from vector tiles (issue 13 item 4).

1. **Tiles**: our route ``GET /api/v1/map/tiles/<z>/<x>/<y>.mvt`` (``eqreg serve --workers 2``,
   a bearer token, the per-process tile cache off so every tile is built) against the bare
   ``ST_AsMVT`` query for the same tiles from psycopg (one connection as the table owner: the
   projects in the tile with the popup's columns, no scope, no clustering), over a fixed set of
   200 tiles at zooms 10–16 (tiles around randomly drawn projects, seed fixed), requested one after
   another; median of 3 alternating runs of the whole set. Also timed: our own ``map_tiles.sql``
   from psycopg (what the app adds around it).
2. **Pages**: ``/map`` and ``/towns/<code>`` in headless Chromium (cold browser cache each run,
   server tile cache on as deployed): HTML size and time to usable (``html[data-map-ready]``: the
   tiles of the first view drawn). Budget: ≤ 1 MB, ≤ 2 s.

The database is made in SQL (``bench/generate_sql.py``: 10^6 projects in about a minute).

    .venv/bin/python bench/map_tiles.py --n 1000000 [--reuse]
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import served  # noqa: E402  (tests/served.py: eqreg serve, Chromium, sign-in)

from bench import common  # noqa: E402
from bench.generate_sql import generate_projects_sql  # noqa: E402
from registry import sqlfiles  # noqa: E402
from registry.map_tiles import TileRequest, tile_params  # noqa: E402
from registry.scope import Scope  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:54329/eqreg_bench_tiles"
TILE_BUDGET, HTML_BUDGET_MB, USABLE_BUDGET_S = 1.5, 1.0, 2.0
TILES_PER_ZOOM = {10: 4, 11: 8, 12: 20, 13: 32, 14: 40, 15: 48, 16: 48}  # 200
USER, PASSWORD = "bench_viewer", "bench viewer password"
SCREENSHOT = common.REPO / "bench" / "out" / "map_tiles.png"

BARE_SQL = """
SELECT ST_AsMVT(q, 'projects', 4096, 'geom') FROM (
    SELECT p.id, p.code, p.name, p.domain_code, p.stage, p.total_investment::float8 AS total_investment,
           ST_AsMVTGeom(ST_Transform(p.geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom
    FROM projects p
    WHERE p.deleted_at IS NULL AND p.geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4326)) q
"""


def prepare(url: str, n: int, reuse: bool) -> None:
    """The scratch database with the demo towns, ``n`` projects made in SQL and a planner."""
    count = _count(url)
    if not (reuse and count == n):
        common.fresh_database(url)
        generate_projects_sql(url, district_code=common.DEMO_DISTRICT, n=n)
        common.psql(url, "-c", "VACUUM ANALYZE")
    else:
        common.log.info("reusing %s with %d projects", common.database_name(url), n)
    if not common.scalar(url, f"SELECT 1 FROM users WHERE username = '{USER}'"):
        common.eqreg(url, "users", "add", USER, "--role", "planner", "--password-stdin", stdin=PASSWORD + "\n")


def _count(url: str) -> int:
    try:
        return int(common.scalar(url, "SELECT count(*) FROM projects"))
    except Exception:  # noqa: BLE001 - no database yet
        return -1


def tile_set(url: str) -> list[tuple[int, int, int]]:
    """200 distinct tiles at z10–16 around randomly drawn projects (the same set every run)."""
    positions = [tuple(map(float, line.split("|"))) for line in common.scalar(url, """
        SELECT string_agg(concat_ws('|', ST_X(c), ST_Y(c)), E'\\n') FROM (
            SELECT ST_PointOnSurface(geom) c FROM projects TABLESAMPLE SYSTEM (1) REPEATABLE (42) LIMIT 4000) s
        """).splitlines()]
    rng = random.Random(13)
    tiles, short = [], 0  # a zoom with fewer tiles over the district passes its share on
    for z, wanted in TILES_PER_ZOOM.items():
        chosen: set[tuple[int, int, int]] = set()
        for lng, lat in rng.sample(positions, len(positions)):
            chosen.add(_tile_of(lng, lat, z))
            if len(chosen) == wanted + short:
                break
        short = wanted + short - len(chosen)
        tiles += sorted(chosen)
    return tiles


def _tile_of(lng: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2 ** z
    return z, int((lng + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _token(base: str) -> str:
    body = json.dumps({"username": USER, "password": PASSWORD}).encode()
    request = urllib.request.Request(base + "/api/v1/auth/token", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)["token"]


def route_run(base: str, token: str, tiles) -> tuple[float, dict]:
    """All tiles through our route, one after another (keep-alive off: urllib)."""
    per_zoom: dict[int, float] = {}
    size = 0
    started = time.perf_counter()
    for z, x, y in tiles:
        t = time.perf_counter()
        request = urllib.request.Request(f"{base}/api/v1/map/tiles/{z}/{x}/{y}.mvt",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request) as response:
            size += len(response.read())
        per_zoom[z] = per_zoom.get(z, 0) + time.perf_counter() - t
    return time.perf_counter() - started, {"per_zoom": per_zoom, "bytes": size}


def sql_run(conn, tiles, sql: str, params_of) -> tuple[float, dict]:
    per_zoom: dict[int, float] = {}
    size = 0
    started = time.perf_counter()
    for z, x, y in tiles:
        t = time.perf_counter()
        data = conn.execute(sql, params_of(z, x, y)).fetchone()[0]
        conn.rollback()
        size += len(data or b"")
        per_zoom[z] = per_zoom.get(z, 0) + time.perf_counter() - t
    return time.perf_counter() - started, {"per_zoom": per_zoom, "bytes": size}


def our_sql() -> str:
    """map_tiles.sql with psycopg placeholders, run with the app's settings (jit off, 64 MB)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sqlfiles.source("map_tiles"))


def measure_tiles(url: str, base: str, tiles, repeat: int) -> dict:
    token = _token(base)
    ours_sql = our_sql()
    with psycopg.connect(url) as bare, psycopg.connect(url) as own:
        own.execute("SET jit = off")
        own.execute("SET work_mem = '64MB'")
        own.commit()
        runs: dict[str, list] = {"route": [], "bare": [], "our_sql": []}
        route_run(base, token, tiles), sql_run(bare, tiles, BARE_SQL, _bare_params)  # warm-up
        for attempt in range(repeat):
            for name, work in (("route", lambda: route_run(base, token, tiles)),
                               ("bare", lambda: sql_run(bare, tiles, BARE_SQL, _bare_params)),
                               ("our_sql", lambda: sql_run(own, tiles, ours_sql, _our_params))):
                seconds, details = work()
                common.log.info("%s run %d: %.2f s, %d bytes", name, attempt + 1, seconds, details["bytes"])
                runs[name].append((seconds, details))
    return runs


def _bare_params(z, x, y) -> dict:
    return {"z": z, "x": x, "y": y}


def _our_params(z, x, y) -> dict:
    return tile_params(Scope.system(), TileRequest(z, x, y))


def measure_pages(base: str, repeat: int, town_code: str) -> dict:
    from playwright.sync_api import sync_playwright
    results: dict[str, dict[str, list]] = {}
    with sync_playwright() as playwright:
        browser = served.launch_chromium(playwright)
        for _ in range(repeat):
            for path in ("/map", f"/towns/{town_code}"):
                context = browser.new_context(viewport={"width": 1366, "height": 768})  # cold cache
                served.sign_in(context, base, USER, PASSWORD, landing="/api/v1/health")
                page = context.new_page()
                requested = []
                page.on("request", lambda r: requested.append(r.url))
                response = page.goto(base + path)
                page.wait_for_selector("html[data-map-ready]", timeout=120_000)
                entry = results.setdefault(path, {"html_bytes": [], "usable_ms": [], "tiles": [], "outside": [],
                                                  "mode": []})
                entry["html_bytes"].append(len(response.body()))
                entry["usable_ms"].append(int(page.get_attribute("html", "data-map-ready")))
                entry["mode"].append(page.locator(".folium-map").get_attribute("data-eqreg-mode"))
                entry["tiles"].append(sum(1 for u in requested if ".mvt" in u))
                entry["outside"].append(sum(1 for u in requested if not served.is_local(u)))
                if path == "/map":
                    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SCREENSHOT))
                context.close()
        browser.close()
    return results


def main() -> None:
    parser = common.arguments("map vector tiles vs bare ST_AsMVT; the map pages at N projects", n=1_000_000)
    parser.set_defaults(database_url=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="keep the database when it has N projects")
    parser.add_argument("--skip-pages", action="store_true", help="tiles only (no browser)")
    parser.add_argument("--skip-tiles", action="store_true", help="pages only")
    args = parser.parse_args()
    common.setup_logging()
    prepare(args.database_url, args.n, args.reuse)
    rows: list = [("projects", args.n, "", "")]
    if not args.skip_pages:
        town = common.scalar(args.database_url, "SELECT primary_town_code FROM projects GROUP BY 1 "
                                                "ORDER BY count(*) DESC LIMIT 1")
        with served.Served(args.database_url, workers=2) as app:
            pages = measure_pages(app.base, args.repeat, town)
        for path, entry in pages.items():
            html_mb = statistics.median(entry["html_bytes"]) / 1e6
            usable = statistics.median(entry["usable_ms"]) / 1000
            rows += [(f"{path} HTML (MB)", html_mb, HTML_BUDGET_MB, common.verdict(html_mb, HTML_BUDGET_MB)),
                     (f"{path} time to usable, median (first) (s)", f"{usable:.2f} ({entry['usable_ms'][0] / 1000:.2f})",
                      USABLE_BUDGET_S, common.verdict(usable, USABLE_BUDGET_S)),
                     (f"{path} mode, tiles requested, requests off 127.0.0.1",
                      f"{entry['mode'][0]}, {statistics.median(entry['tiles'])}, {max(entry['outside'])}", "", "")]
        print(json.dumps(pages, ensure_ascii=False), flush=True)
    if not args.skip_tiles:
        tiles = tile_set(args.database_url)
        assert len(tiles) == 200, len(tiles)
        with served.Served(args.database_url, workers=2, env={"EQREG_MAP_TILE_CACHE": "false"}) as app:
            runs = measure_tiles(args.database_url, app.base, tiles, args.repeat)
        ours = statistics.median(s for s, _ in runs["route"])
        bare = statistics.median(s for s, _ in runs["bare"])
        own_sql = statistics.median(s for s, _ in runs["our_sql"])
        rows += [("200 tiles z10–16, our route (s)", ours, "", ""),
                ("same tiles, bare ST_AsMVT from psycopg (s)", bare, "", ""),
                ("ratio route ÷ bare", ours / bare, TILE_BUDGET, common.verdict(ours / bare, TILE_BUDGET)),
                ("same tiles, map_tiles.sql from psycopg (s)", own_sql, "", ""),
                ("ratio route ÷ map_tiles.sql", ours / own_sql, "", "")]
        for z in TILES_PER_ZOOM:
            rows.append((f"  z{z}: route / bare / map_tiles.sql (s)", " / ".join(
                f"{statistics.median(d['per_zoom'][z] for _, d in runs[k]):.2f}" for k in ("route", "bare", "our_sql")),
                "", ""))
        rows.append(("bytes: route / bare", f"{runs['route'][0][1]['bytes']} / {runs['bare'][0][1]['bytes']}", "", ""))
        common.record_figure(f"Map tiles, 200 tiles z10–16, {args.n} projects vs bare ST_AsMVT", ours=ours,
                             reference=bare, unit="s", rows=args.n, max_ratio=TILE_BUDGET)
    common.print_table(["measure", "median", "budget", "verdict"], rows)
    os.system("uptime")  # the load average: other work on the machine skews the times


if __name__ == "__main__":
    main()
