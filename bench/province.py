"""Benchmark: the registry at province scale (issue 14 item 4) — 136 districts, 1 000 000 projects.

Starts a primary and a streaming standby with ``scripts/replica.sh`` (under ``$EQREG_BENCH_DIR``,
free ports), builds the province on the primary with ``bench/province_data.py`` and waits for the
standby to replay it. Then, each a median of ``--repeat`` alternating with its reference on the
same data:

1. **Province figures** as a province viewer (``Scope`` of the 136 districts): per-town figures
   (``registry.figures.town_figures``, what ``GET /api/v1/stats?group_by=town`` and the town list
   show) against the bare ``GROUP BY town`` over the province's shares; monthly figures
   (``registry.figures.monthly_figures``, ``group_by=month``, six months) against the bare SQL of
   ``bench/targets_figures.py``. Figure cache cleared before each run; the numbers must agree.
2. **Targets report** over every district's nine targets as a province viewer
   (``registry.target_report.report``, summed by ``registry.target_sums``: one statement per
   measure and kind of jurisdiction, grouped by jurisdiction) against the bare SQL that computes the same numbers for all districts at once (one
   statement per kind of target, grouped by district). The numbers must agree.
3. **API reads on the standby**: ``eqreg serve`` with ``DATABASE_REPLICA_URLS`` = the standby,
   32 keep-alive clients on ``/api/v1/projects?per_page=20``, ``/towns``, ``/stats?group_by=town``
   and ``/targets``, as the province viewer and as the bureau of one district, each run after a
   run of ``/api/v1/health`` (same server, no database) — budget ≥ 0.5×, 0 errors.

Budgets: 1 and 2 ≤ 1.5×, 3 ≥ 0.5×. Figures go to ``$BENCH_RESULTS`` as JSON lines.

    .venv/bin/python bench/province.py                       # 136 districts, 1 000 000 projects
    .venv/bin/python bench/province.py --quick               # 17 districts, 20 000 projects
    .venv/bin/python bench/province.py --database-url URL    # 1 and 2 only, on a built province
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench import api_load, api_replica, common, province_data  # noqa: E402
from bench.targets_figures import (AS_OF, MONTHLY_SQL, MONTHS, compare_months, compare_targets,  # noqa: E402
                                   measure, reference_statement)
from bench.town_figures import BARE_AGGREGATE  # noqa: E402

DATABASE = "eqreg_bench_province"
FIRST_TIMEOUT = 240  # s: the first (uncached) request of an endpoint
TARGET_KINDS = {"count": "b-count", "yearly": "b-count-yearly", "total": "b-total", "equipment": "b-equipment",
                "completed": "b-completed", "machines": "b-machines", "gas": "b-gas", "growth": "b-growth"}
# the bare GROUP BY town of town_figures.py, over the province's shares
TOWN_AGGREGATE = text(BARE_AGGREGATE.text.replace(
    "WHERE p.deleted_at IS NULL", "WHERE p.deleted_at IS NULL AND pt.district_code = ANY (:districts)"))


def province_scope(session):
    """What a viewer of province 37 gets (``registry.scope.scope_for`` of such an account)."""
    from registry.roles import Role
    from registry.scope import Scope
    codes = session.scalars(text("SELECT code FROM districts WHERE province_code = :p ORDER BY code"),
                            {"p": province_data.PROVINCE}).all()
    return Scope(actor=province_data.PROVINCE_USER, role=Role.VIEWER, district_codes=frozenset(codes))


def compare_towns(ours: list[dict], bare) -> None:
    mine = {f["code"]: (f["project_count"], f["total_investment"]) for f in ours if f["project_count"]}
    reference = {r.town_code: (r.project_count, r.total_investment) for r in bare}
    differ = [code for code in mine.keys() | reference.keys()
              if code not in mine or code not in reference or mine[code][0] != reference[code][0]
              or abs(mine[code][1] - reference[code][1]) > 0.01]
    if differ:
        raise SystemExit(f"town figures disagree on {len(differ)} towns, e.g. {sorted(differ)[:3]}")


def figures_and_targets(url: str, repeat: int) -> list[dict]:
    """Parts 1 and 2 against ``url``; one dict per measurement (name, ours, reference, detail)."""
    from registry import db as registry_db
    from registry.figures import monthly_figures, town_figures
    from registry.target_report import report
    engine = registry_db.make_engine(url)
    measured = []
    try:
        with registry_db.session_scope(engine) as session:
            session.execute(text("SET jit = off"))  # as the web app's sessions (web/database.py), both sides
            scope = province_scope(session)
            districts = sorted(scope.district_codes)
            ours_s, bare_s, mine, bare = measure(
                session, lambda: town_figures(session, scope),
                lambda: session.execute(TOWN_AGGREGATE, {"districts": districts}).all(), repeat, "town figures")
            compare_towns(mine, bare)
            measured.append({"name": "Province per-town figures (province viewer)", "ours": ours_s,
                             "reference": bare_s, "detail": f"{len(mine)} towns"})

            monthly = text(MONTHLY_SQL.format(first=MONTHS[0], last=MONTHS[1], before="2024-12"))
            ours_s, bare_s, mine, bare = measure(
                session, lambda: monthly_figures(session, scope, *MONTHS),
                lambda: session.execute(monthly).all(), repeat, "monthly figures")
            compare_months(mine, bare)
            measured.append({"name": "Province monthly figures (province viewer)", "ours": ours_s,
                             "reference": bare_s, "detail": f"{MONTHS[0]}…{MONTHS[1]}"})

            statements = {kind: text(reference_statement(b, districts)) for kind, b in TARGET_KINDS.items()}
            ours_s, bare_s, mine, bare = measure(
                session, lambda: report(session, scope, as_of=AS_OF),
                lambda: {kind: session.execute(s).all() for kind, s in statements.items()}, repeat, "targets")
            compare_targets(mine, {f"{r.dc}-{kind}": [x for x in rows if x.dc == r.dc]
                                   for kind, rows in bare.items() for r in rows})
            measured.append({"name": f"Province targets report, {len(mine.targets)} targets of {len(districts)} "
                                     "districts (province viewer)", "ours": ours_s, "reference": bare_s,
                             "detail": f"{len(mine.targets)} targets"})
    finally:
        engine.dispose()
    return measured


def api_on_standby(primary: str, standby: str, seconds: float, repeat: int, first_district: str) -> list[dict]:
    """Part 3: every endpoint as the province viewer and as one district's bureau, on the standby."""
    load = api_load.wrk if shutil.which("wrk") else api_load.python_load
    port = common.free_port()
    server = common.start_server(primary, port, env={"DATABASE_REPLICA_URLS": standby})
    measured = []
    try:
        tokens = {}
        for role, user in (("province viewer", province_data.PROVINCE_USER),
                           (f"bureau of {first_district}", province_data.BUREAU_USER)):
            status, body = api_load.request(port, "POST", "/api/v1/auth/token",
                                            {"username": user, "password": province_data.PASSWORD})
            if status != 201:
                raise SystemExit(f"POST /api/v1/auth/token ({user}): {status} {body[:200]!r}")
            tokens[role] = json.loads(body)["token"]
        api_replica.wait_for_replay(primary, standby)  # the tokens, for row-level security on the standby
        runs = {f"{path} as {role}": (path, token) for path in api_load.ENDPOINTS for role, token in tokens.items()}
        health_token = next(iter(tokens.values()))
        cold = []  # the first request of each: computed, not yet in the response cache
        for name, (path, token) in [("health", (api_replica.TRIVIAL, health_token)), *runs.items()]:
            started = time.perf_counter()
            try:
                status, body = first_get(port, path, token)
            except TimeoutError:  # reported, and that endpoint is not loaded
                cold.append(f"{name}: no answer within {FIRST_TIMEOUT} s")
                common.log.info("first GET %s", cold[-1])
                runs.pop(name)
                measured.append({"name": f"API {name} from a streaming standby", "ours": 0.0, "reference": 1.0,
                                 "errors": 1, "detail": cold[-1]})
                continue
            if status != 200:
                raise SystemExit(f"GET {path}: {status} {body[:200]!r}")
            cold.append(f"{name}: {time.perf_counter() - started:.1f} s")
            common.log.info("first GET %s", cold[-1])
            load(port, path, token, 2)  # warm-up
        database = common.database_name(primary)
        before = api_replica.standby_commits(standby, database)
        results = {name: [] for name in runs}
        references = {name: [] for name in runs}
        for attempt in range(1, repeat + 1):
            for name, (path, token) in runs.items():
                references[name].append(load(port, api_replica.TRIVIAL, health_token, seconds))
                results[name].append(load(port, path, token, seconds))
                common.log.info("run %d %s: %.0f req/s (health just before %.0f)", attempt, name,
                                results[name][-1][0], references[name][-1][0])
        on_standby = api_replica.standby_commits(standby, database) - before
    finally:
        common.stop_server(server)
    served = sum(r[1] for runs_ in results.values() for r in runs_)
    common.log.info("standby transactions during the runs: %d for %d API requests", on_standby, served)
    for name in runs:
        measured.append({"name": f"API {name} from a streaming standby", "ours": statistics.median(r[0] for r in results[name]),
                         "reference": statistics.median(r[0] for r in references[name]),
                         "errors": sum(r[2] for r in results[name]),
                         "detail": f"standby transactions {on_standby} / requests {served}"})
    print("First (uncached) request of each endpoint: " + "; ".join(cold))
    return measured


def first_get(port: int, path: str, token: str) -> tuple[int, bytes]:
    """One GET with a long time-out (``FIRST_TIMEOUT``): a cold province-wide answer may take minutes."""
    connection = http.client.HTTPConnection(common.HOST, port, timeout=FIRST_TIMEOUT)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def record(measured: list[dict], projects: int, *, seconds_budget: float = 1.5, rate_budget: float = 0.5) -> None:
    rows = []
    for m in measured:
        rate = m["name"].startswith("API")
        ratio = m["ours"] / m["reference"]
        budget = {"min_ratio": rate_budget} if rate else {"max_ratio": seconds_budget}
        verdict = common.verdict(ratio, rate_budget if rate else seconds_budget, at_least=rate)
        if m.get("errors"):
            verdict = f"MISSED ({m['errors']} errors)"
        common.record_figure(f"{m['name']}, {projects} projects vs {'/api/v1/health' if rate else 'bare SQL'}",
                             ours=m["ours"], reference=m["reference"], unit="req/s" if rate else "s", rows=projects,
                             errors=m.get("errors", 0), **budget)
        rows.append([m["name"], f"{m['ours']:,.0f}" if rate else m["ours"],
                     f"{m['reference']:,.0f}" if rate else m["reference"], ratio, verdict])
    common.print_table(["work", "ours", "reference", "ratio", "verdict"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=136)
    parser.add_argument("--projects", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="17 districts, 20 000 projects")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5, help="API load per run (default 5 s)")
    parser.add_argument("--database-url", help="a province built by province_data.py: measure it, build nothing")
    parser.add_argument("--replica-url", help="with --database-url: a streaming standby of it, for the API part")
    parser.add_argument("--only", choices=["figures", "api"], help="with --database-url: one part only")
    args = parser.parse_args()
    common.setup_logging()
    size = province_data.QUICK if args.quick else {"districts": args.districts, "projects": args.projects}
    if args.database_url:
        url = args.database_url
        projects = int(common.scalar(url, "SELECT count(*) FROM projects"))
        measured = [] if args.only == "api" else figures_and_targets(url, args.repeat)
        if args.replica_url and args.only != "figures":
            first = common.scalar(url, "SELECT min(code) FROM districts")
            measured += api_on_standby(url, args.replica_url, args.seconds, args.repeat, first)
        print(f"Province scale: {projects} projects; load average "
              f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}; medians of {args.repeat}")
        record(measured, projects)
        return

    with api_replica.replica_pair("province", DATABASE) as (primary, standby):
        held = province_data.build(primary, **size)
        api_replica.wait_for_replay(primary, standby)
        sizes = common.psql(primary, "-At", "-c", "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) "
                            "FROM pg_class WHERE relname IN ('projects', 'project_towns', 'progress_reports', "
                            "'towns', 'town_parts', 'audit_log') ORDER BY 1", capture=True)
        common.log.info("table sizes (with indexes): %s", sizes.replace("\n", "; "))
        measured = figures_and_targets(primary, args.repeat)
        first = province_data.district_codes(size["districts"])[0]
        measured += api_on_standby(primary, standby, args.seconds, args.repeat, first)
    print(f"Province scale: {held}; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"medians of {args.repeat}")
    record(measured, held["projects"])


if __name__ == "__main__":
    main()
