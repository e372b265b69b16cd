"""Benchmark: the tiles of a town's map (``/towns/<code>``) at N projects, from psycopg.

Times ``registry/sql/map_tiles.sql`` over the tiles around the town with the most projects (its
bounding box at z12 and z13, two tiles more on each side: what the page and a pan show), with the
town filter (``?town=``) and as that town's official (the scope), the cluster grid current, median
of 3. ``--compare OTHER.sql`` times another version of the file in the same rounds (alternating)
and counts the tiles whose bytes differ, e.g. main's:

    git show main:registry/sql/map_tiles.sql > /tmp/map_tiles_main.sql
    .venv/bin/python bench/town_tiles.py --database-url postgresql://…/eqreg_bench_tiles --compare /tmp/map_tiles_main.sql

The database is ``bench/map_tiles.py``'s (``bench/generate_sql.py``).
"""
from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry import sqlfiles  # noqa: E402
from registry.map_tiles import CELL_PIXELS, GRID_MAX_ZOOM, TileRequest, tile_params  # noqa: E402
from registry.roles import Role  # noqa: E402
from registry.scope import Scope  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:54329/eqreg_bench_tiles"


def placeholders(sql: str) -> str:
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


def tile_of(lng: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lng + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--compare", help="another map_tiles.sql to time alongside")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    versions = {"ours": placeholders(sqlfiles.source("map_tiles"))}
    if args.compare:
        versions["compared"] = placeholders(Path(args.compare).read_text())
    with psycopg.connect(args.database_url) as conn:
        conn.execute("SET jit = off")
        conn.execute("SET work_mem = '64MB'")
        conn.execute("SET max_parallel_workers_per_gather = 0")  # as registry.map_tiles with a current grid
        conn.execute("SELECT eqreg_refresh_map_cells(%s, %s)", (GRID_MAX_ZOOM, CELL_PIXELS))
        conn.commit()
        stamp = tuple(conn.execute("SELECT epoch, stamp FROM map_cell_state").fetchone())
        town = conn.execute("SELECT primary_town_code FROM projects GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
        west, south, east, north = conn.execute(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM towns "
            "WHERE code = %s AND valid_to IS NULL", (town,)).fetchone()
        conn.commit()
        official = Scope(actor="bench", role=Role.TOWN, town_codes=frozenset({town}))
        for label, scope, town_filter in (("?town=", Scope.system(), town), ("town official", official, None)):
            for z in (12, 13):
                (x0, y0), (x1, y1) = tile_of(west, north, z), tile_of(east, south, z)
                tiles = [(z, x, y) for x in range(x0 - 2, x1 + 3) for y in range(y0 - 2, y1 + 3)]
                runs = {name: [] for name in versions}
                worst = dict.fromkeys(versions, 0.0)
                seen: dict[tuple, set] = {}
                for _ in range(args.repeat):
                    for name, sql in versions.items():
                        started = time.perf_counter()
                        for tile in tiles:
                            one = time.perf_counter()
                            params = tile_params(scope, TileRequest(*tile, town=town_filter), stamp)
                            data = conn.execute(sql, params).fetchone()[0]
                            conn.rollback()
                            worst[name] = max(worst[name], time.perf_counter() - one)
                            seen.setdefault(tile, set()).add(bytes(data))
                        runs[name].append(time.perf_counter() - started)
                timed = "; ".join(f"{name} {statistics.median(r):.2f} s (worst tile {worst[name]:.2f} s)"
                                  for name, r in runs.items())
                differing = sum(len(v) > 1 for v in seen.values())
                print(f"town {town} {label} z{z}, {len(tiles)} tiles: {timed}; tiles differing: {differing}", flush=True)
    os.system("uptime")


if __name__ == "__main__":
    main()
