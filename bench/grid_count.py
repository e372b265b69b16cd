"""Benchmark: counting the map's cluster grid after an edit (migration 0024) vs counting it whole.

On ``bench/map_tiles.py``'s database (``--n`` projects made in SQL, re-used when it holds that
many), each round times, as ``registry.map_tiles.count_grid`` calls it (REPEATABLE READ):
0022's whole count (the function before this migration) and ``eqreg_refresh_map_cells``
counting the grid whole (its stamp forgotten first, the bookkeeping written too), then after one
project moved, then after 1 000 projects moved (each edit committed before the count; the
projects are picked at random, moved by 0.002° and back on the next round). Median of ``--repeat``
rounds; the machine's load average is printed with it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.map_tiles import prepare  # noqa: E402
from migrations import revision_module  # noqa: E402
from registry.map_tiles import CELL_PIXELS, GRID_MAX_ZOOM  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:54329/eqreg_bench_grid"


def timed_count(url: str, function: str = "eqreg_refresh_map_cells") -> float:
    with psycopg.connect(url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        started = time.perf_counter()
        assert conn.execute(f"SELECT {function}(%s, %s)", (GRID_MAX_ZOOM, CELL_PIXELS)).fetchone()[0]
        conn.commit()
        return time.perf_counter() - started


def install_0022_count(url: str) -> None:
    """The whole count before this migration (0022's function) as ``bench_refresh_map_cells_0022``."""
    with psycopg.connect(url) as conn:
        conn.execute(revision_module("0022_townpage.py").GRID_FUNCTION.replace("FUNCTION eqreg_refresh_map_cells(", "FUNCTION bench_refresh_map_cells_0022(", 1))


def move(url: str, count: int, step: float) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE projects SET geom = ST_Translate(geom, %s, %s) WHERE id IN "
                     "(SELECT id FROM projects WHERE deleted_at IS NULL ORDER BY random() LIMIT %s)",
                     (step, step, count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep a database that already holds --n projects")
    args = parser.parse_args()
    prepare(args.database_url, args.n, args.reuse)
    install_0022_count(args.database_url)
    timed_count(args.database_url)  # the bookkeeping, once
    runs: dict[str, list[float]] = {"whole before 0024": [], "whole": [], "1 edited": [], "1 000 edited": []}
    loads = []
    for round_ in range(args.repeat):
        loads.append(os.getloadavg()[0])
        for label, function in (("whole before 0024", "bench_refresh_map_cells_0022"), ("whole", "eqreg_refresh_map_cells")):
            with psycopg.connect(args.database_url) as conn:
                conn.execute("DELETE FROM map_cell_state")  # forgotten: counted whole
            runs[label].append(timed_count(args.database_url, function))
        for label, count in (("1 edited", 1), ("1 000 edited", 1000)):
            move(args.database_url, count, 0.002 if round_ % 2 == 0 else -0.002)
            runs[label].append(timed_count(args.database_url))
        common.log.info("round %d: %s", round_ + 1, {k: round(v[-1], 3) for k, v in runs.items()})
    whole = statistics.median(runs["whole"])
    print(f"| count of the grid at {args.n:,} projects | median of {args.repeat} (s) | vs whole |")
    print("|---|---|---|")
    for label, values in runs.items():
        print(f"| {label} | {statistics.median(values):.3f} | {statistics.median(values) / whole:.4f}× |")
    print(f"load average (1 min) at the rounds' starts: {', '.join(f'{x:.1f}' for x in loads)}")


if __name__ == "__main__":
    main()
