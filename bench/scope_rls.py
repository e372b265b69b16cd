"""Benchmark: API throughput with the scope derived from the request's secret (migration 0011)
against the scope set with ``set_config`` (the code and schema at ``--before``, 0010). DESIGN §9
budget: at most 10 % fewer requests per second.

One scratch database with the demo towns, ``--n`` generated projects and two accounts (a town
official of the busiest town and a bureau registrar); a copy of it downgraded to 0010 serves the
code at ``--before`` (``git archive`` into the bench directory, run with this venv). Both servers
(``eqreg serve`` defaults) run side by side; ``GET /api/v1/projects?per_page=20`` with each
account's bearer token is loaded by ``wrk`` (32 clients) for ``--seconds``, alternating the two
servers, ``--repeat`` times; medians are reported.

    .venv/bin/python bench/scope_rls.py --database-url postgresql://postgres@127.0.0.1:PORT/eqreg_bench_scope
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.api_load import python_load, request, wrk  # noqa: E402
from bench.common import free_port, stop_server  # noqa: E402

PATH = "/api/v1/projects?per_page=20"
PASSWORD = "bench-口令-2024-long"
ACCOUNTS = {"town": "bench_town", "bureau": "bench_bureau"}
BUDGET = 0.9  # after ÷ before, requests per second


def checkout(revision: str) -> Path:
    """The code at ``revision`` in the bench directory (never a second worktree of the repo)."""
    target = common.WORKDIR / f"code-{revision}"
    if not target.exists():
        archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=common.REPO,
                                 capture_output=True, check=True).stdout
        target.mkdir(parents=True)
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target


def serve(url: str, port: int, code: Path | None) -> subprocess.Popen:
    """``eqreg serve`` of this checkout, or of ``code`` (imported first from its directory)."""
    command = [common.EQREG] if code is None else [
        sys.executable, "-c", "import sys; sys.argv[0] = 'eqreg'; from web.cli import main; main()"]
    env = {**common.env_for(url), "PYTHONDONTWRITEBYTECODE": "1"}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    server = subprocess.Popen([*command, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              cwd=code or common.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/api/v1/health")[0] == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"eqreg serve ({code or 'this checkout'}) exited with {server.returncode}")
        time.sleep(0.5)
    stop_server(server)
    raise SystemExit("eqreg serve did not answer within 90 s")


def token(port: int, username: str) -> str:
    status, body = request(port, "POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD})
    if status != 201:
        raise SystemExit(f"POST /api/v1/auth/token ({username}): {status} {body[:200]!r}")
    return json.loads(body)["token"]


def prepare(url: str, n: int) -> tuple[str, str]:
    """The database at head with ``n`` projects and the two accounts, and its copy at 0010."""
    common.generated_database(url, n)
    town = common.scalar(url, "SELECT town_code FROM project_towns GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    common.eqreg(url, "users", "add", ACCOUNTS["town"], "--role", "town", "--town", town, "--password-stdin",
                 stdin=PASSWORD + "\n")
    common.eqreg(url, "users", "add", ACCOUNTS["bureau"], "--role", "bureau", "--password-stdin",
                 stdin=PASSWORD + "\n")
    before = url.rsplit("/", 1)[0] + "/" + common.database_name(url) + "_before"
    admin = common.maintenance_url(url)
    common.psql(admin, "-c", f'DROP DATABASE IF EXISTS "{common.database_name(before)}" WITH (FORCE)')
    common.psql(admin, "-c", f'CREATE DATABASE "{common.database_name(before)}" '
                             f'TEMPLATE "{common.database_name(url)}"')
    common.eqreg(before, "db", "downgrade", "0010_security")
    for target in (url, before):
        common.psql(target, "-c", "ANALYZE")
    return url, before


PAGE = ("SELECT p.id, p.code, p.name, p.stage FROM projects p WHERE p.deleted_at IS NULL "
        "ORDER BY p.updated_at DESC NULLS LAST, p.id LIMIT 20")


def statement_costs(urls: dict[str, str], tokens: dict[tuple[str, str], str], iterations: int = 1500):
    """Median µs of one API-like transaction (scope, the list's page query) as the web role, for
    each (side, account), the sides alternating every transaction: the database's share alone."""
    import psycopg
    connections, times = {}, {key: [] for key in tokens}
    for side, url in urls.items():
        connections[side] = psycopg.connect(url)
        connections[side].execute("SET ROLE eqreg_app")
        connections[side].execute("SET jit = off")
        connections[side].commit()
    towns = {role: common.scalar(urls["before"], "SELECT coalesce(string_agg(town_code, ','), '') FROM user_towns "
                                 f"JOIN users ON users.id = user_id WHERE username = '{name}'")
             for role, name in ACCOUNTS.items()}
    for i in range(iterations):
        for side, role in tokens:
            conn = connections[side]
            started = time.perf_counter()
            if side == "after":
                conn.execute("SELECT set_config('eqreg.session', %s, true)", (tokens[side, role],))
            else:
                conn.execute("SELECT set_config('eqreg.role', %s, true), set_config('eqreg.towns', %s, true)",
                             (role, towns[role]))
            conn.execute(PAGE).fetchall()
            conn.rollback()
            if i >= 50:  # the first transactions warm the plan and buffer caches
                times[side, role].append(time.perf_counter() - started)
    for conn in connections.values():
        conn.close()
    return {key: statistics.median(values) * 1e6 for key, values in times.items()}


def main() -> None:
    parser = common.arguments("API req/s: scope from the request's secret vs set_config (0010)", n=5000)
    parser.add_argument("--seconds", type=float, default=10, help="load per run (default 10 s)")
    parser.add_argument("--before", default="main", help="git revision of the code at 0010 (default main)")
    args = parser.parse_args()
    common.setup_logging()
    after_url, before_url = prepare(args.database_url, args.n)
    projects = int(common.scalar(after_url, "SELECT count(*) FROM projects"))
    load = wrk if shutil.which("wrk") else python_load
    servers, ports = {}, {"after": free_port(), "before": free_port()}
    try:
        servers["after"] = serve(after_url, ports["after"], None)
        servers["before"] = serve(before_url, ports["before"], checkout(args.before))
        tokens = {(side, role): token(ports[side], username)
                  for side in ports for role, username in ACCOUNTS.items()}
        for (side, role), secret in tokens.items():  # warm-up, and every answer must be a 200
            status, body = request(ports[side], "GET", PATH, token=secret)
            if status != 200:
                raise SystemExit(f"{side} {role}: {status} {body[:200]!r}")
            load(ports[side], PATH, secret, 2)
        runs = {key: [] for key in tokens}
        for attempt in range(1, args.repeat + 1):
            for role in ACCOUNTS:
                for side in (("after", "before") if attempt % 2 else ("before", "after")):
                    runs[side, role].append(load(ports[side], PATH, tokens[side, role], args.seconds))
                    rate, total, errors = runs[side, role][-1]
                    common.log.info("run %d %s %s: %.0f req/s, %d requests, %d errors (load %.2f)", attempt,
                                    side, role, rate, total, errors, os.getloadavg()[0])
    finally:
        for server in servers.values():
            stop_server(server)
    costs = statement_costs({"after": after_url, "before": before_url}, tokens)

    rows = []
    for role in ACCOUNTS:
        after = statistics.median(r[0] for r in runs["after", role])
        before = statistics.median(r[0] for r in runs["before", role])
        errors = sum(r[2] for side in ports for r in runs[side, role])
        ratio = after / before
        # Each pair ran back to back: its ratio is less exposed to the shared machine's drifting load.
        paired = statistics.median(a[0] / b[0] for a, b in zip(runs["after", role], runs["before", role]))
        rows.append([role, f"{before:,.0f}", f"{after:,.0f}", errors, ratio, paired,
                     common.verdict(ratio, BUDGET, at_least=True) if errors == 0 else "MISSED (errors)"])
        common.record_figure(f"API {PATH} as {role}, scope from the secret vs set_config, {projects} projects",
                             ours=after, reference=before, unit="req/s", rows=projects, min_ratio=BUDGET,
                             errors=errors)
    print(f"{PATH}, {projects} projects, {load.__name__} 32 clients, {args.seconds:g} s per run, medians of "
          f"{args.repeat} alternating; load average {os.getloadavg()[0]:.2f}")
    common.print_table(["account", "before (0010) req/s", "after (0011) req/s", "errors", "after ÷ before",
                        "median of pair ratios", f"budget >= {BUDGET}"], rows)
    print("\nThe database's share: one transaction as the web role (scope, then the page query), median µs")
    common.print_table(["account", "before (0010) µs", "after (0011) µs", "after − before µs"],
                       [[role, f"{costs['before', role]:.0f}", f"{costs['after', role]:.0f}",
                         f"{costs['after', role] - costs['before', role]:+.0f}"] for role in ACCOUNTS])


if __name__ == "__main__":
    main()
