"""Shared helpers for the benchmarks in ``bench/`` (DESIGN §7). Not part of the test suite.

Each benchmark is a script with ``--n``, ``--database-url`` and ``--repeat``; it rebuilds a
scratch database, runs our command and the reference tool on the same data ``--repeat`` times,
and prints the medians as a small table. Commands run as child processes: wall time is taken
here, peak RSS comes from ``/usr/bin/time``.
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
EQREG = str(VENV_BIN / "eqreg")
DEFAULT_URL = "postgresql://postgres@127.0.0.1:54329/eqreg_bench_h7"
DEMO_TOWNS = REPO / "data" / "boundaries" / "xuecheng-demo-towns.geojson"
DEMO_DISTRICT = "370403"
WORKDIR = Path(os.environ.get("EQREG_BENCH_DIR", "/tmp/eqreg-bench"))

log = logging.getLogger("bench")
QUIET_PSQL = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning"}


def arguments(description: str, n: int, repeat: int = 3) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=n, help=f"number of projects (default {n})")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
                        help="scratch database, dropped and re-created (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=repeat, help="runs per measurement; the median is reported")
    return parser


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S")


# --- databases -----------------------------------------------------------------------------

def maintenance_url(url: str) -> str:
    """The same server's ``postgres`` database (to drop and create the scratch one)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def psql(url: str, *args: str, stdin: str | None = None, capture: bool = False) -> str:
    """Run psql quietly with ON_ERROR_STOP; return stdout when ``capture``."""
    done = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, *args],
                          input=stdin, text=True, check=True, env=QUIET_PSQL,
                          stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
    return done.stdout if capture else ""


def scalar(url: str, sql: str) -> str:
    return psql(url, "-At", "-c", sql, capture=True).strip()


def eqreg(url: str, *args: str, stdin: str | None = None) -> None:
    """Run an ``eqreg`` command against ``url``, output discarded; raise on failure."""
    subprocess.run([EQREG, *args], env=env_for(url), input=stdin, text=True, check=True,
                   stdout=subprocess.DEVNULL)


def env_for(url: str) -> dict:
    return {**os.environ, "DATABASE_URL": url}


def fresh_database(url: str, *, towns: bool = True) -> None:
    """Drop and re-create the scratch database, migrate it, and load the demo district's towns."""
    name = database_name(url)
    if not name.startswith("eqreg_bench"):
        raise SystemExit(f"refusing to drop {name!r}: scratch databases must be named eqreg_bench*")
    admin = maintenance_url(url)
    psql(admin, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(admin, "-c", f'CREATE DATABASE "{name}"')
    eqreg(url, "db", "upgrade")
    if towns:
        eqreg(url, "boundaries", "load", str(DEMO_TOWNS), "--level", "town")
    log.info("scratch database %s ready", name)


def demo_towns(url: str):
    """The demo district's towns as stored (``registry.demo_library.Town``, EPSG:4326)."""
    from registry import db as registry_db
    from registry.demo import demo_towns as stored_towns
    engine = registry_db.make_engine(url)
    try:
        with registry_db.session_scope(engine) as session:
            return stored_towns(session)
    finally:
        engine.dispose()


# --- data ----------------------------------------------------------------------------------

def template_records(towns, n: int, seed: int = 7):
    """``n`` valid import-template records from the demo generator, with unique project codes.

    The demo generator keeps codes unique for a few hundred rows; at 100k its serials wrap, so
    the serial (and, past 100k, the department digits) is rewritten from the row number.
    """
    from registry.demo_library import LibraryMaker
    maker = LibraryMaker(towns, seed)
    batch = 5000
    for start in range(0, n, batch):
        for i, record in enumerate(maker.records(min(batch, n - start)), start=start):
            code = record["code"]
            record["code"] = f"{code[:12]}{10 + i // 100000:02d}{code[14:18]}{i % 100000:05d}{code[-1]}"
            yield record


def template_csv(url: str, n: int, seed: int = 7) -> Path:
    """A CSV in the import template with ``n`` valid rows (cached per n and seed)."""
    from registry.template import COLUMNS
    path = WORKDIR / f"projects-{n}-{seed}.csv"
    if path.exists():
        return path
    WORKDIR.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    partial = path.with_suffix(".part")
    with partial.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([column.header for column in COLUMNS])
        for record in template_records(demo_towns(url), n, seed):
            writer.writerow(["" if record.get(c.key) is None else record[c.key] for c in COLUMNS])
    partial.rename(path)
    log.info("generated %s (%d rows) in %.1f s", path, n, time.perf_counter() - started)
    return path


# --- a served app ---------------------------------------------------------------------------

HOST = "127.0.0.1"  # servers under test listen on loopback only


def free_port() -> int:
    """A TCP port nobody listens on right now (on ``HOST``)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(url: str, port: int, *options: str, timeout: float = 60,
                 env: dict | None = None) -> subprocess.Popen:
    """``eqreg serve`` on ``HOST:port`` against ``url`` (extra ``options`` such as ``--workers 2``,
    extra environment ``env`` such as ``DATABASE_REPLICA_URLS``), in its own process group; returns
    once ``/api/v1/health`` answers 200."""
    server = subprocess.Popen([EQREG, "serve", "--host", HOST, "--port", str(port), *options],
                              env={**env_for(url), **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            pass
        finally:
            connection.close()
        if server.poll() is not None:
            raise SystemExit(f"eqreg serve exited with {server.returncode}")
        time.sleep(0.3)
    stop_server(server)
    raise SystemExit(f"eqreg serve did not answer within {timeout:g} s")


def stop_server(server: subprocess.Popen) -> None:
    """Stop a server from ``start_server``: gunicorn's master and its workers (its own group)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- timing --------------------------------------------------------------------------------

@dataclass
class Run:
    seconds: float
    max_rss_mb: float  # peak resident set of the child process


def run(command: Sequence[str], *, env: dict | None = None, stdin_text: str | None = None,
        ok_codes: tuple[int, ...] = (0,)) -> Run:
    """Run a command to completion; its wall time and peak RSS. Non-zero exit raises."""
    # /usr/bin/time reports the peak RSS of the command alone: a child forked straight from this
    # (large) Python process would count our own pages in its ru_maxrss until it execs.
    WORKDIR.mkdir(parents=True, exist_ok=True)
    rss_file = WORKDIR / f"rss-{os.getpid()}.txt"
    started = time.perf_counter()
    child = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *command], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL)
    _, stderr = child.communicate(stdin_text)
    elapsed = time.perf_counter() - started
    if child.returncode not in ok_codes:
        raise RuntimeError(f"{command[0]} exited {child.returncode}: {stderr[-2000:]}")
    max_rss_kb = int(rss_file.read_text().split()[-1])
    return Run(elapsed, max_rss_kb / 1024)


def repeat(times: int, measure: Callable[[], Run], before: Callable[[], None] | None = None,
           label: str = "") -> list[Run]:
    """Call ``before`` then ``measure`` ``times`` times, logging each run."""
    runs = []
    for attempt in range(1, times + 1):
        if before:
            before()
        result = measure()
        log.info("%s run %d: %.2f s, peak RSS %.0f MB", label, attempt, result.seconds, result.max_rss_mb)
        runs.append(result)
    return runs


def alternate(times: int, ours: Callable[[], Run], reference: Callable[[], Run], labels: tuple[str, str]
              ) -> tuple[list[Run], list[Run]]:
    """One warm-up run of each (not counted), then ``times`` runs alternating ours and the
    reference, so both see the same conditions on a shared machine."""
    ours(), reference()
    ours_runs, reference_runs = [], []
    for _ in range(times):
        ours_runs += repeat(1, ours, label=labels[0])
        reference_runs += repeat(1, reference, label=labels[1])
    return ours_runs, reference_runs


def generated_database(url: str, n: int) -> None:
    """A fresh scratch database with the demo towns and ``n`` projects made by COPY."""
    from bench.generate_projects import generate_projects
    WORKDIR.mkdir(parents=True, exist_ok=True)
    fresh_database(url)
    generate_projects(url, district_code=DEMO_DISTRICT, n=n)
    psql(url, "-c", "VACUUM ANALYZE projects, project_towns")


def median_seconds(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def median_rss(runs: list[Run]) -> float:
    return statistics.median(r.max_rss_mb for r in runs)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain Markdown table on stdout (pasted into BENCHMARKS.md)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def record_figure(name: str, *, ours: float, reference: float, unit: str, rows: int,
                  max_ratio: float | None = None, min_ratio: float | None = None,
                  peak_rss_mb: float | None = None, **extra) -> None:
    """Append one measured figure to ``$BENCH_RESULTS`` (JSON lines; ``run_all.py`` collects them).

    ``ratio`` is ours ÷ reference; the budget is ``max_ratio`` for times, ``min_ratio`` for rates.
    """
    target = os.environ.get("BENCH_RESULTS")
    if not target:
        return
    figure = {"name": name, "ours": round(ours, 4), "reference": round(reference, 4), "unit": unit,
              "ratio": round(ours / reference, 3), "rows": rows,
              "peak_rss_mb": None if peak_rss_mb is None else round(peak_rss_mb, 1)}
    figure.update({"max_ratio": max_ratio} if max_ratio is not None else {"min_ratio": min_ratio})
    figure.update(extra)
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps(figure, ensure_ascii=False) + "\n")


def verdict(ratio: float, budget: float, *, at_least: bool = False) -> str:
    """``ok`` when the ratio is within budget (≤ budget, or ≥ it for throughput)."""
    met = ratio >= budget if at_least else ratio <= budget
    return "ok" if met else "MISSED"
