"""Benchmark: JSON API GETs served from a streaming standby (issue 14 item 3, docs/scale.md).

Starts a primary and a standby with ``scripts/replica.sh`` (under ``$EQREG_BENCH_DIR``, on free
ports), loads ``eqreg demo --count N`` on the primary, waits for the standby to replay it and runs
``eqreg serve`` with ``DATABASE_REPLICA_URLS`` = the standby. Then, like ``api_load.py``, 32
keep-alive clients per endpoint, alternating with the trivial ``/api/v1/health`` (no database):
the reads' data sessions run on the standby (checked with the standby's ``pg_stat_database``).
The ratio is what reading from a replica costs the API compared with a request that touches no
database; compare it with ``api_load.py``'s ratio on a single server.

    .venv/bin/python bench/api_replica.py --n 300 --seconds 5
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import api_load, common  # noqa: E402

SCRIPT = common.REPO / "scripts" / "replica.sh"
PATHS = ["/api/v1/projects?per_page=20", "/api/v1/towns"]
DATABASE = "eqreg_bench_replica"
TRIVIAL = "/api/v1/health"


def replica_script(action: str, root: Path, env: dict) -> str:
    return subprocess.run(["bash", str(SCRIPT), action, str(root)], env=env, check=True,
                          capture_output=True, text=True).stdout


def standby_commits(url: str, database: str = DATABASE) -> int:
    return int(common.scalar(url, f"SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                  f"WHERE datname = '{database}'"))


def wait_for_replay(primary: str, standby: str) -> None:
    lsn = common.scalar(primary, "SELECT pg_current_wal_lsn()")
    for _ in range(1200):
        if common.scalar(standby, f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") == "t":
            return
        time.sleep(0.1)
    raise SystemExit("the standby did not catch up")


@contextlib.contextmanager
def replica_pair(name: str, database: str):
    """A fresh primary and streaming standby (``scripts/replica.sh``, free ports, directory ``name``
    under the bench directory) with ``database`` created; yields their URLs, stops and removes both."""
    root = common.WORKDIR / name
    if os.geteuid() == 0:  # the clusters run as postgres: a directory it can reach
        from registry import embedded
        root = embedded.home() / f"{name}-bench"
    env = {**os.environ, "EQREG_PRIMARY_PORT": str(common.free_port()),
           "EQREG_STANDBY_PORT": str(common.free_port()), "EQREG_REPLICA_DB": database}
    shutil.rmtree(root, ignore_errors=True)
    urls = dict(line.split("=", 1) for line in replica_script("start", root, env).splitlines() if "=" in line)
    try:
        yield urls["DATABASE_URL"], urls["DATABASE_REPLICA_URLS"]
    finally:
        replica_script("stop", root, env)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = common.arguments("JSON API req/s from a streaming standby vs a trivial endpoint", n=300)
    parser.add_argument("--seconds", type=float, default=5, help="load per run (default 5 s)")
    args = parser.parse_args()
    common.setup_logging()
    load = api_load.wrk if shutil.which("wrk") else api_load.python_load
    server = None
    with replica_pair("replica", DATABASE) as (primary, standby), contextlib.ExitStack() as stop:
        stop.callback(lambda: server is not None and common.stop_server(server))
        common.fresh_database(primary, towns=False)
        common.eqreg(primary, "demo", "--count", str(args.n))
        common.eqreg(primary, "users", "add", api_load.BENCH_USER, "--role", "bureau", "--password-stdin",
                     stdin=api_load.BENCH_PASSWORD + "\n")
        common.psql(primary, "-c", "ANALYZE")
        projects = int(common.scalar(primary, "SELECT count(*) FROM projects"))
        wait_for_replay(primary, standby)
        port = common.free_port()
        server = common.start_server(primary, port, env={"DATABASE_REPLICA_URLS": standby})
        status, body = api_load.request(port, "POST", "/api/v1/auth/token",
                                        {"username": api_load.BENCH_USER, "password": api_load.BENCH_PASSWORD})
        if status != 201:
            raise SystemExit(f"POST /api/v1/auth/token: {status} {body[:200]!r}")
        token = json.loads(body)["token"]
        wait_for_replay(primary, standby)  # the token, for row-level security on the standby
        for path in [TRIVIAL, *PATHS]:
            status, body = api_load.request(port, "GET", path, token=token)
            if status != 200:
                raise SystemExit(f"GET {path}: {status} {body[:200]!r}")
            load(port, path, token, 2)  # warm-up
        before = standby_commits(standby)
        results = {path: [] for path in PATHS}
        trivial = {path: [] for path in PATHS}
        for attempt in range(1, args.repeat + 1):
            for path in PATHS:  # alternate each endpoint with the reference
                results[path].append(load(port, path, token, args.seconds))
                trivial[path].append(load(port, TRIVIAL, token, args.seconds))
                common.log.info("run %d %s: %.0f req/s (health %.0f)", attempt, path, results[path][-1][0],
                                trivial[path][-1][0])
        on_standby = standby_commits(standby) - before

    served = sum(r[1] for runs in results.values() for r in runs)
    rows = []
    for path in PATHS:
        rate = statistics.median(r[0] for r in results[path])
        reference = statistics.median(r[0] for r in trivial[path])
        errors = sum(r[2] for r in results[path])
        rows.append([path, f"{rate:,.0f}", f"{reference:,.0f}", errors, rate / reference])
        common.record_figure(f"API {path} from a streaming standby, {projects} projects vs /api/v1/health",
                             ours=rate, reference=reference, unit="req/s", rows=projects, min_ratio=0.5,
                             errors=errors)
    print(f"JSON API from a streaming standby, {api_load.CLIENTS} clients ({load.__name__}), {args.seconds:g} s "
          f"per run, medians of {args.repeat}; {projects} projects; load average {os.getloadavg()[0]:.1f}; "
          f"standby transactions during the runs: {on_standby} for {served} API requests")
    common.print_table(["endpoint", "req/s (standby)", "health req/s", "errors", "ratio"], rows)


if __name__ == "__main__":
    main()
