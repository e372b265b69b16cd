"""Fault injection: nothing lost when an import is killed, and 503 (not 500) while PostgreSQL restarts.

Runs on a private PostgreSQL cluster of its own (under ``var/``, on a free port; deleted at the
end), so it can be stopped without disturbing anything else.

1. **Killed imports.** A base registry (the demo towns and ``--n`` imported projects) is kept as a
   template database. Each trial copies it, starts ``eqreg projects import`` of a file that
   updates every base project and adds ``--n`` new ones, and ``kill -9``s the CLI process at one
   point: while a given kind of statement runs (found in ``pg_stat_activity``) or after a share of
   the import's measured duration. Once the server has finished the orphaned statement, every
   table's row count and checksum must equal the template's ("registry unchanged") — or, when the
   import committed before the kill landed, the row counts of a complete import ("complete");
   anything else is a partial import ("PARTIAL"), the failure this looks for.
2. **PostgreSQL restart under load.** ``eqreg serve`` on the base registry; a few clients read the
   API (list, towns, one project, readiness) and the project list page, and one edits a project
   (GET for the ETag, then PATCH with If-Match; counted once per edit), while the cluster is
   stopped (``pg_ctl -m fast``) and started again. Reports every response by status, whether all
   failures were 503 with ``Retry-After`` (no 500, no dropped connection), and failures after the
   database was back.

    .venv/bin/python bench/fault_injection.py [--n 3000] [--down-seconds 2]
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from registry import embedded  # noqa: E402

HOST = common.HOST
BASE, TRIAL = "eqreg_fault_base", "eqreg_fault_trial"
USER, PASSWORD = "fault", "fault-口令-2024-long"
# (label, what the import's connection must be running when the CLI is killed)
STATEMENT_POINTS = [("staging (COPY)", "COPY"), ("project upsert", "INSERT INTO projects"),
                    ("town shares", "project_towns"), ("audit trail", "audit_log")]
TIME_POINTS = [0.25, 0.5, 0.75, 0.95]


# --- the registry's fingerprint ----------------------------------------------------------------

def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Every public table (but PostGIS's): (row count, md5 over its rows in a stable order)."""
    with psycopg.connect(url) as conn:
        tables = [t for (t,) in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
            "AND relname <> 'spatial_ref_sys' ORDER BY 1")]
        return {table: tuple(conn.execute(
            f'SELECT count(*), coalesce(md5(string_agg(md5(t::text), \'\' ORDER BY md5(t::text))), \'\') '
            f'FROM "{table}" t').fetchone()) for table in tables}


# --- killed imports ----------------------------------------------------------------------------

def changed_file(base_csv: Path, extra_csv: Path, out: Path) -> Path:
    """Every base row with a new name (updates) followed by the extra rows with new codes (inserts)."""
    with base_csv.open(encoding="utf-8") as base, extra_csv.open(encoding="utf-8") as extra, \
            out.open("w", encoding="utf-8", newline="") as target:
        writer = csv.writer(target)
        rows = csv.reader(base)
        header = next(rows)
        name, code = header.index("项目名称"), header.index("项目代码")
        writer.writerow(header)
        codes = set()
        for row in rows:
            row[name] += "（改）"
            codes.add(row[code])
            writer.writerow(row)
        extra_rows = csv.reader(extra)
        next(extra_rows)
        writer.writerows(row for row in extra_rows if row[code] not in codes)
    return out


def copy_base(admin: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TRIAL}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TRIAL}" TEMPLATE "{BASE}"')


def import_process(url: str, path: Path) -> subprocess.Popen:
    return subprocess.Popen([common.EQREG, "projects", "import", str(path)], env=common.env_for(url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def busy_backends(admin: str, pattern: str | None = None) -> list[int]:
    """Backends of the trial database running a statement (matching ``pattern``)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
            "AND pid <> pg_backend_pid() AND (%s::text IS NULL OR strpos(query, %s) > 0)",
            (TRIAL, pattern, pattern))]


def kill_trial(admin: str, url: str, path: Path, *, pattern: str | None = None,
               after: float | None = None, limit: float = 120) -> str:
    """Start an import, kill -9 it at the point; 'killed' or 'finished before the point'."""
    process = import_process(url, path)
    started = time.monotonic()
    try:
        while process.poll() is None and time.monotonic() - started < limit:
            due = (after is not None and time.monotonic() - started >= after) or \
                  (pattern is not None and busy_backends(admin, pattern))
            if due:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                break
            time.sleep(0.005)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.returncode != -signal.SIGKILL:
        return "finished before the point"
    # The server notices the lost client only when the orphaned statement ends: wait for it.
    deadline = time.monotonic() + limit
    while busy_backends(admin) and time.monotonic() < deadline:
        time.sleep(0.05)
    return "killed"


def killed_imports(cluster: embedded.Cluster, n: int, workdir: Path) -> list[dict]:
    admin, base_url, url = cluster.url("postgres"), cluster.url(BASE), cluster.url(TRIAL)
    embedded.ensure_database(base_url)
    common.eqreg(base_url, "db", "upgrade")
    common.eqreg(base_url, "boundaries", "load", str(common.DEMO_TOWNS), "--level", "town")
    base_csv = common.template_csv(base_url, n, seed=7)
    common.eqreg(base_url, "projects", "import", str(base_csv))
    big = changed_file(base_csv, common.template_csv(base_url, n, seed=8), workdir / "changed.csv")
    with psycopg.connect(admin, autocommit=True) as conn:  # no one may be connected to a template
        conn.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{BASE}'")
    expected = fingerprint(base_url)

    copy_base(admin)
    started = time.monotonic()
    common.eqreg(url, "projects", "import", str(big))
    full = time.monotonic() - started
    imported = fingerprint(url)
    assert imported != expected, "the uninterrupted import changed nothing: the trial proves nothing"
    # Row counts are the same for every complete run of this file (checksums differ by timestamps).
    complete_counts = {table: count for table, (count, _) in imported.items()}

    results = []
    points = [(label, {"pattern": pattern}) for label, pattern in STATEMENT_POINTS]
    points += [(f"{share:.0%} of {full:.1f} s", {"after": share * full}) for share in TIME_POINTS]
    for label, how in points:
        copy_base(admin)
        outcome = kill_trial(admin, url, big, **how)
        after = fingerprint(url)
        if after == expected:
            state = "unchanged"
        elif {table: count for table, (count, _) in after.items()} == complete_counts:
            state = "complete"  # committed before the kill landed: all of it, which is no loss either
        else:
            state = "PARTIAL"
        results.append({"point": label, "outcome": outcome, "registry": state})
        print(f"  kill -9 at {label:<22} {outcome:<26} registry {state}", flush=True)
    results.append({"full_import_seconds": round(full, 2), "rows": 2 * n})
    return results


# --- PostgreSQL restart under load --------------------------------------------------------------

def call(port: int, path: str, token: str, accept: str = "application/json", method: str = "GET",
         body: dict | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body),
                           headers={"Authorization": f"Bearer {token}", "Accept": accept,
                                    "Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        data = response.read()
        return response.status, response.getheader("Retry-After"), data, response.getheader("ETag")
    finally:
        connection.close()


def edit(port: int, token: str, project: int, n: int):
    """One write: read the project's ETag, then PATCH its remarks with If-Match (the ETag read may fail too)."""
    status, retry_after, body, etag = call(port, f"/api/v1/projects/{project}", token)
    if status != 200:
        return status, retry_after, body, None
    return call(port, f"/api/v1/projects/{project}", token, method="PATCH", body={"remarks": f"故障测试 {n}"},
                headers={"If-Match": etag})


def restart_under_load(cluster: embedded.Cluster, down_seconds: float, clients: int = 6) -> dict:
    url = cluster.url(BASE)
    subprocess.run([common.EQREG, "users", "add", USER, "--role", "bureau", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, env=common.env_for(url), check=True, stdout=subprocess.DEVNULL)
    port = common.free_port()
    server = common.start_server(url, port, "--workers", "2", "--threads", "4")
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        connection.request("POST", "/api/v1/auth/token", body=json.dumps({"username": USER, "password": PASSWORD}),
                           headers={"Content-Type": "application/json"})
        token = json.loads(connection.getresponse().read())["token"]
        project = json.loads(call(port, "/api/v1/projects?per_page=1", token)[2])["items"][0]["id"]
        paths = ["/api/v1/projects?per_page=20", "/api/v1/towns", f"/api/v1/projects/{project}",
                 "/api/v1/health/ready", "/projects"]
        outcomes: list[tuple[float, str, str]] = []  # (time, phase, result)
        writes: list[str] = []
        phase, lock, stop = ["before"], threading.Lock(), threading.Event()

        def client(index: int) -> None:
            i = index
            while not stop.is_set():
                path = "PATCH" if index == 0 else paths[i % len(paths)]  # one client writes
                i += 1
                try:
                    if path == "PATCH":
                        status, retry_after, body, _ = edit(port, token, project, i)
                    else:
                        status, retry_after, body, _ = call(port, path, token,
                                                            "text/html" if path == "/projects" else "application/json")
                    if status == 503 and not retry_after:
                        result = "503 without Retry-After"
                    elif status == 503 and path == "/projects" and "数据库暂时无法访问".encode() not in body:
                        result = "503 page without the Chinese message"
                    else:
                        result = str(status)
                except (OSError, http.client.HTTPException) as error:
                    result = f"connection error ({type(error).__name__})"
                with lock:
                    outcomes.append((time.monotonic(), phase[0], result))
                    writes.append(result) if path == "PATCH" else None
                time.sleep(0.02)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        phase[0] = "down"
        stopped_at = time.monotonic()
        cluster.stop(mode="fast")
        time.sleep(down_seconds)
        cluster.start()
        phase[0] = "after"
        back_at = time.monotonic()
        time.sleep(4)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        common.stop_server(server)
    failures = [o for o in outcomes if o[2] != "200"]
    return {"requests": len(outcomes), "by_result": dict(Counter(o[2] for o in outcomes)),
            "writes": dict(Counter(writes)),
            "by_phase": {p: dict(Counter(o[2] for o in outcomes if o[1] == p)) for p in ("before", "down", "after")},
            "failed": len(failures),
            "failed_not_503": sum(1 for o in failures if o[2] != "503"),
            "server_errors_500": sum(1 for o in outcomes if o[2] == "500"),
            "failed_after_restart": sum(1 for o in failures if o[0] > back_at),
            "downtime_seconds": round(back_at - stopped_at, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="base projects (the killed import writes 2 × n rows)")
    parser.add_argument("--down-seconds", type=float, default=2.0, help="how long PostgreSQL stays stopped")
    args = parser.parse_args()
    common.setup_logging()
    port = common.free_port()
    cluster = embedded.Cluster(embedded.home() / f"fault-{port}", port)
    workdir = common.WORKDIR / "fault"
    workdir.mkdir(parents=True, exist_ok=True)
    cluster.start()
    try:
        print(f"1. kill -9 of `eqreg projects import` ({2 * args.n} rows: {args.n} updates + {args.n} new)")
        imports = killed_imports(cluster, args.n, workdir)
        print(f"2. PostgreSQL stopped for {args.down_seconds:g} s under load against `eqreg serve`")
        restart = restart_under_load(cluster, args.down_seconds)
        print(json.dumps(restart, ensure_ascii=False, indent=2))
        kills = [r for r in imports if "point" in r]
        verdict = {"killed_imports": sum(r["outcome"] == "killed" for r in kills),
                   "registry_unchanged": sum(r["registry"] == "unchanged" for r in kills),
                   "import_complete_before_the_kill": sum(r["registry"] == "complete" for r in kills),
                   "partial_imports": sum(r["registry"] == "PARTIAL" for r in kills),
                   "restart_failures_all_503": restart["failed_not_503"] == 0}
        print(json.dumps(verdict, ensure_ascii=False))
        (workdir / "results.json").write_text(json.dumps({"imports": imports, "restart": restart, **verdict},
                                                         ensure_ascii=False, indent=2))
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)


if __name__ == "__main__":
    main()
