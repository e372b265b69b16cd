"""Benchmark: the JSON API under 32 concurrent clients (DESIGN §7, budget ≥ 0.5× the req/s of a
trivial endpoint on the same server, 0 errors).

Starts ``eqreg serve`` (gunicorn, its default workers and threads) on a free loopback port against
a scratch database loaded by ``eqreg demo --count N``, adds a bench user and takes a bearer token
from ``POST /api/v1/auth/token``. Then, for each endpoint in turn, 32 keep-alive clients for
``--seconds``: ``GET /api/v1/projects?per_page=20``, ``GET /api/v1/towns`` and the trivial
reference ``GET /api/v1/health`` (``{"status":"ok"}``: the same server, workers, middleware and
access log, but no sign-in and no database). Every request sends the same bearer token; the
health endpoint ignores it, so the ratio includes what sign-in and scoping cost the API.

The load comes from ``wrk`` when installed (Debian package ``wrk``), else from a bounded Python
generator (threads + http.client, fixed request count and time limit). Loopback only.

    .venv/bin/python bench/api_load.py --n 300
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402

HOST = "127.0.0.1"
CLIENTS = 32
TRIVIAL = "trivial: /api/v1/health"
ENDPOINTS = {TRIVIAL: "/api/v1/health",
             "/api/v1/projects?per_page=20": "/api/v1/projects?per_page=20",
             "/api/v1/towns": "/api/v1/towns"}
BENCH_USER, BENCH_PASSWORD = "bench", "bench-口令-2024-long"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


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


def start_server(url: str, port: int, extra_env: dict | None = None) -> subprocess.Popen:
    server = subprocess.Popen([common.EQREG, "serve", "--host", HOST, "--port", str(port)],
                              env={**common.env_for(url), **(extra_env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/api/v1/health")[0] == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"eqreg serve exited with {server.returncode}")
        time.sleep(0.5)
    stop_server(server)
    raise SystemExit("eqreg serve did not answer within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # gunicorn master and its workers (our own session)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


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


def main() -> None:
    parser = common.arguments("JSON API req/s under 32 clients vs a trivial endpoint", n=300)
    parser.add_argument("--seconds", type=float, default=10, help="load per run (default 10 s)")
    args = parser.parse_args()
    common.setup_logging()
    url = args.database_url
    common.fresh_database(url, towns=False)
    common.eqreg(url, "demo", "--count", str(args.n))
    common.eqreg(url, "users", "add", BENCH_USER, "--role", "bureau", "--password-stdin",
                 stdin=BENCH_PASSWORD + "\n")
    common.psql(url, "-c", "ANALYZE")  # planner statistics, as autovacuum would have them on a live server
    projects = int(common.scalar(url, "SELECT count(*) FROM projects"))
    load = wrk if shutil.which("wrk") else python_load
    port = free_port()
    server = start_server(url, port)
    try:
        status, body = request(port, "POST", "/api/v1/auth/token",
                               {"username": BENCH_USER, "password": BENCH_PASSWORD})
        if status != 201:
            raise SystemExit(f"POST /api/v1/auth/token: {status} {body[:200]!r}")
        token = json.loads(body)["token"]
        for path in ENDPOINTS.values():
            status, body = request(port, "GET", path, token=token)
            if status != 200:
                raise SystemExit(f"GET {path}: {status} {body[:200]!r}")
            load(port, path, token, 2)  # warm-up: connections, caches, lazy imports
        results = {name: [] for name in ENDPOINTS}
        for attempt in range(1, args.repeat + 1):
            for name, path in ENDPOINTS.items():
                results[name].append(load(port, path, token, args.seconds))
                rate, total, errors = results[name][-1]
                common.log.info("run %d %s: %.0f req/s, %d requests, %d errors", attempt, name, rate,
                                total, errors)
    finally:
        stop_server(server)

    trivial = statistics.median(r[0] for r in results[TRIVIAL])
    rows = []
    for name, runs in results.items():
        rate = statistics.median(r[0] for r in runs)
        errors = sum(r[2] for r in runs)
        ratio = rate / trivial
        verdict = "reference" if name.startswith("trivial") else (
            common.verdict(ratio, 0.5, at_least=True) if errors == 0 else "MISSED (errors)")
        rows.append([name, f"{rate:,.0f}", sum(r[1] for r in runs), errors, ratio, verdict])
        if not name.startswith("trivial"):
            common.record_figure(f"API {name}, {projects} projects vs /api/v1/health", ours=rate,
                                 reference=trivial, unit="req/s", rows=projects, min_ratio=0.5, errors=errors)
    print(f"JSON API, {CLIENTS} clients ({load.__name__}), {args.seconds:g} s per run, medians of "
          f"{args.repeat}; {projects} projects; eqreg serve defaults")
    common.print_table(["endpoint", "req/s", "requests", "errors", "ratio", "budget >= 0.5x, 0 errors"], rows)


if __name__ == "__main__":
    main()
