"""Benchmark: the JSON API under 32 concurrent clients (DESIGN §7, budget ≥ 0.5× the req/s of a
trivial endpoint on the same server, 0 errors).

Starts ``eqreg serve`` (gunicorn, its default workers and threads) on a free loopback port against
a scratch database with the demo district's towns and ``--n`` projects made in SQL, with dates,
progress reports and a plan of 9 targets (``bench/targets_figures.py``'s data). Two users sign in
for a bearer token (``POST /api/v1/auth/token``): a ``bureau`` registrar (the whole registry) and
a ``town`` official (one town). Then, in turn, 32 keep-alive clients for ``--seconds`` per
(endpoint, user): ``/api/v1/projects?per_page=20``, ``/api/v1/towns``, ``/api/v1/stats?group_by=town`` and
``/api/v1/targets``, and the trivial reference ``GET /api/v1/health`` (``{"status":"ok"}``: the same
server, workers, middleware and access log, but no sign-in and no database). Every request sends
a bearer token; the health endpoint ignores it, so the ratio includes what sign-in and scoping
cost the API. The clients repeat one URL without ``If-None-Match``: every answer is a full 200.

Each run of an (endpoint, user) follows a health run of its own, for ``--repeat`` rounds; the
ratio is the median endpoint rate over the median of its health runs. On a shared machine whose
load swings within a minute, the reference measured just before is the fair one.

The load comes from ``wrk`` when installed (Debian package ``wrk``), else from a bounded Python
generator (threads + http.client, fixed request count and time limit). Loopback only.

    .venv/bin/python bench/api_load.py --n 5000
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402

HOST = common.HOST
CLIENTS = 32
ENDPOINTS = ["/api/v1/projects?per_page=20", "/api/v1/towns", "/api/v1/stats?group_by=town", "/api/v1/targets"]
BENCH_USER, BENCH_PASSWORD = "bench", "bench-口令-2024-long"
TOWN_USER = "benchtown"  # a town official of the first demo town (same password)


def request(port: int, method: str, path: str, body: dict | None = None, token: str | None = None):
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def wrk(port: int, path: str, token: str, seconds: float) -> tuple[float, int, int]:
    """(requests/s, requests, errors) from ``wrk``; errors are socket errors plus non-2xx/3xx."""
    done = subprocess.run(["wrk", "-t", "2", "-c", str(CLIENTS), "-d", f"{seconds:g}s", "--timeout", "30s",
                           "-H", f"Authorization: Bearer {token}", f"http://{HOST}:{port}{path}"],
                          capture_output=True, text=True, check=True)
    out = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(v) for v in m.groups())
    return rate, total, errors


def python_load(port: int, path: str, token: str, seconds: float, max_requests: int = 200_000):
    """The same measurement without wrk: CLIENTS threads, keep-alive, bounded by time and count."""
    counts, errors, lock = [0], [0], threading.Lock()
    stop_at = time.monotonic() + seconds

    def client():
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        while time.monotonic() < stop_at:
            with lock:
                if counts[0] >= max_requests:
                    return
                counts[0] += 1
            try:
                connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                response.read()
                failed = response.status >= 400
            except (OSError, http.client.HTTPException):
                failed = True
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=30)
            if failed:
                with lock:
                    errors[0] += 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts[0] / (time.monotonic() - started), counts[0], errors[0]


def token_for(port: int, username: str) -> str:
    status, body = request(port, "POST", "/api/v1/auth/token", {"username": username, "password": BENCH_PASSWORD})
    if status != 201:
        raise SystemExit(f"POST /api/v1/auth/token ({username}): {status} {body[:200]!r}")
    return json.loads(body)["token"]


def prepare(url: str, n: int) -> int:
    """The scratch database with ``n`` projects, targets and the two users; returns the project count."""
    from bench.targets_figures import generate
    common.fresh_database(url)
    generate(url, n)
    town = common.scalar(url, f"SELECT min(code) FROM towns WHERE district_code = '{common.DEMO_DISTRICT}'")
    common.eqreg(url, "users", "add", BENCH_USER, "--role", "bureau", "--password-stdin",
                 stdin=BENCH_PASSWORD + "\n")
    common.eqreg(url, "users", "add", TOWN_USER, "--role", "town", "--town", town, "--password-stdin",
                 stdin=BENCH_PASSWORD + "\n")
    common.psql(url, "-c", "ANALYZE")  # planner statistics, as autovacuum would have them on a live server
    return int(common.scalar(url, "SELECT count(*) FROM projects"))


def main() -> None:
    parser = common.arguments("JSON API req/s under 32 clients vs a trivial endpoint", n=5000)
    parser.add_argument("--seconds", type=float, default=5, help="load per run (default 5 s)")
    parser.add_argument("--reuse", action="store_true", help="keep the scratch database of an earlier run")
    args = parser.parse_args()
    common.setup_logging()
    url = args.database_url
    projects = int(common.scalar(url, "SELECT count(*) FROM projects")) if args.reuse else prepare(url, args.n)
    load = wrk if shutil.which("wrk") else python_load
    port = common.free_port()
    server = common.start_server(url, port)
    try:
        tokens = {"bureau": token_for(port, BENCH_USER), "town": token_for(port, TOWN_USER)}
        runs = {f"{path} as {role}": (path, token) for path in ENDPOINTS for role, token in tokens.items()}
        for path, token in [("/api/v1/health", tokens["bureau"]), *runs.values()]:
            status, body = request(port, "GET", path, token=token)
            if status != 200:
                raise SystemExit(f"GET {path}: {status} {body[:200]!r}")
            load(port, path, token, 2)  # warm-up: connections, caches, lazy imports
        results = {name: [] for name in runs}
        references = {name: [] for name in runs}  # the health run just before each run
        for attempt in range(1, args.repeat + 1):
            for name, (path, token) in runs.items():
                references[name].append(load(port, "/api/v1/health", tokens["bureau"], args.seconds))
                results[name].append(load(port, path, token, args.seconds))
                (reference, _, _), (rate, total, errors) = references[name][-1], results[name][-1]
                common.log.info("run %d %s: %.0f req/s, %d requests, %d errors; health just before: %.0f req/s "
                                "(%.2fx)", attempt, name, rate, total, errors, reference, rate / reference)
    finally:
        common.stop_server(server)

    rows = []
    for name, measured in results.items():
        rate = statistics.median(r[0] for r in measured)
        trivial = statistics.median(r[0] for r in references[name])
        errors = sum(r[2] for r in measured)
        ratio = rate / trivial
        verdict = common.verdict(ratio, 0.5, at_least=True) if errors == 0 else "MISSED (errors)"
        rows.append([name, f"{rate:,.0f}", f"{trivial:,.0f}", sum(r[1] for r in measured), errors, ratio, verdict])
        common.record_figure(f"API {name}, {projects} projects vs /api/v1/health", ours=rate,
                             reference=trivial, unit="req/s", rows=projects, min_ratio=0.5, errors=errors)
    print(f"JSON API, {CLIENTS} clients ({load.__name__}), {args.seconds:g} s per run, medians of "
          f"{args.repeat}; {projects} projects; eqreg serve defaults; load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    common.print_table(["endpoint", "req/s", "health req/s", "requests", "errors", "ratio", "budget >= 0.5x, 0 errors"],
                       rows)


if __name__ == "__main__":
    main()
