"""Benchmark: plan targets and monthly figures at N projects (issue 13 item 5, budget ≤ 1.5× the
bare SQL aggregate that computes the same numbers).

Data is made in SQL: the projects of ``town_figures.py`` (points and two-town pipelines in the
demo district), given start and completion dates (every 50th started project undated),
equipment investment, quantities in 台 / 套 / 台（套）/ 米 / none; progress reports for six
months (a third of the projects each month, cumulative figures growing). The target file has one
target per metric (count, every money sum, quantity with unit alternatives, length, growth
against a baseline, a per-year window and a hand-reported one).

Ours: ``registry.target_report.report`` (what ``GET /api/v1/targets`` and ``eqreg targets report``
show) and ``registry.figures.monthly_figures`` (``GET /api/v1/stats?group_by=month``), with the
figure cache cleared before each run. Reference: bare SQL written by hand for the same numbers —
per target its value, per-year values, per-town split and the counts of undated / unit-mismatched
/ unmeasured projects; per month the cumulative and increase of completed investment by domain
and by town and the reported count. Both run in one warm session, alternating, after a warm-up;
their numbers must agree.

``--province K`` (optional) adds a province-level case (issue 14 item 2): K − 1 more districts of
province 37 are made and the projects (and their town shares) dealt out over the K districts by
id; a province file sets the same measures on 37. Ours: ``report`` for those targets alone, each
one aggregate over the province's districts (``registry.target_sums``, area ``province``);
reference: the same bare SQL per target over ``district_code IN (the province's districts)``.

    .venv/bin/python bench/targets_figures.py --n 1000000
    .venv/bin/python bench/targets_figures.py --n 1000000 --province 136
"""
from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench import common  # noqa: E402
from bench.town_figures import generate as generate_projects  # noqa: E402

AS_OF = dt.date(2025, 6, 30)
MONTHS = ("2025-01", "2025-06")
DISTRICT = common.DEMO_DISTRICT

DETAILS = """
UPDATE projects SET
    actual_start = CASE WHEN stage IN ('construction', 'completed') AND id % 50 <> 0
                        THEN date '2023-10-01' + (id * 37 % 800)::int END,
    equipment_investment = round(total_investment * 0.6),
    quantity = CASE WHEN domain_code IN ('medical', 'agriculture') AND id % 7 <> 0 THEN 1 + id % 20 END,
    unit = CASE WHEN domain_code IN ('medical', 'agriculture')
                THEN (ARRAY['台', '套', '台（套）', '米', NULL])[1 + id % 5] END;
UPDATE projects SET actual_end = actual_start + (id % 300)::int WHERE stage = 'completed';
INSERT INTO progress_reports (project_id, district_code, period, reported_on, completed_investment, created_by)
SELECT p.id, p.district_code, m.period, date (m.period || '-25'), round(p.total_investment * m.k / 10.0), 'bench'
FROM projects p
CROSS JOIN (VALUES ('2024-12', 1), ('2025-01', 2), ('2025-02', 3), ('2025-03', 4), ('2025-04', 5),
                   ('2025-05', 6), ('2025-06', 7)) AS m(period, k)
WHERE p.stage IN ('construction', 'completed') AND (p.id + m.k) % 3 = 0;
"""

PLAN = f"""
jurisdictions:
  - code: "{DISTRICT}"
    name: 薛城区
    targets:
      - {{id: b-count, text: 工业项目数, metric: count, filter: {{domain: 工业, min_total_investment: 500}},
         threshold: 100000, deadline: 2027-12-31}}
      - {{id: b-count-yearly, text: 每年项目数, metric: count, window: per_year, threshold: 50000,
         deadline: 2027-12-31}}
      - {{id: b-total, text: 总投资, metric: sum_total_investment, threshold: 1000000, deadline: 2027-12-31}}
      - {{id: b-equipment, text: 设备投资, metric: sum_equipment_investment, filter: {{domain: [工业, 医疗卫生]}},
         threshold: 1000000, deadline: 2027-12-31}}
      - {{id: b-completed, text: 已完成投资, metric: sum_completed_investment, filter: {{stages: [竣工投产]}},
         threshold: 1000000, deadline: 2026-12-31}}
      - {{id: b-machines, text: 更新设备台（套）, metric: sum_quantity, filter: {{domain: [医疗卫生, 农业]}},
         unit: 台（套）, threshold: 100000, deadline: 2027-12-31}}
      - {{id: b-gas, text: 更新管网公里, metric: sum_length_km, filter: {{domain: 市政基础设施}}, unit: 公里,
         threshold: 10000, deadline: 2027-12-31}}
      - {{id: b-growth, text: 设备投资增长, metric: growth_vs_baseline, baseline: 100000, threshold: 0.2,
         deadline: 2027-12-31}}
      - {{id: b-reported, text: 公交电动化, metric: reported, threshold: 1.0, deadline: 2025-12-31}}
"""

# Per target: (kind of amount, extra WHERE, counting date, per-year).
REFERENCE_TARGETS = {
    "b-count": ("count", "domain_code = 'industry' AND total_investment >= 500", "actual_start", False),
    "b-count-yearly": ("count", "true", "actual_start", True),
    "b-total": ("money:total_investment", "true", "actual_start", False),
    "b-equipment": ("money:equipment_investment", "domain_code IN ('industry', 'medical')", "actual_start", False),
    "b-completed": ("money:completed_investment", "stage = 'completed'", "actual_end", False),
    "b-machines": ("quantity", "domain_code IN ('medical', 'agriculture') AND stage = 'completed'", "actual_end",
                   False),
    "b-gas": ("length", "domain_code = 'municipal' AND stage = 'completed'", "actual_end", False),
    "b-growth": ("money:equipment_investment", "true", "actual_start", False),
}
QUANTITY_UNITS = "('台', '套', '台（套）')"

REFERENCE_SQL = """
WITH m AS (
    SELECT p.id, p.district_code AS dc, p.primary_town_code, {day} AS day, {measured} AS measured,
           {amount} AS amount, {per_year} AS w
    FROM projects p
    WHERE {districts} AND p.deleted_at IS NULL AND {where} {stages}
)
SELECT 'total' AS kind, dc, w, NULL AS town, sum(amount) AS amount, NULL::bigint AS n FROM m
WHERE day BETWEEN '{lo}' AND '{hi}' AND measured = 'ok' GROUP BY dc, w
UNION ALL
SELECT 'town', dc, w, {town_key}, sum({town_amount}), NULL FROM m {town_join}
WHERE day BETWEEN '{current_lo}' AND '{hi}' AND measured = 'ok' GROUP BY dc, w, {town_key}
UNION ALL
SELECT 'problems', dc, NULL, NULL, NULL,
       count(*) FILTER (WHERE day IS NULL OR (day BETWEEN '{lo}' AND '{hi}' AND measured <> 'ok')) FROM m
GROUP BY dc
"""


def reference_statement(target_id: str, districts: list[str] = (DISTRICT,)) -> str:
    """The bare SQL of one kind of target over ``districts`` (one statement, grouped by district)."""
    kind, where, day, per_year = REFERENCE_TARGETS[target_id]
    stages = "" if "stage =" in where else "AND p.stage IN ('construction', 'completed')"
    measured, amount = "'ok'", "1.0"
    town_key, town_amount, town_join = "p.town_code", "m.amount * p.share", "JOIN project_towns p ON p.project_id = m.id"
    if kind.startswith("money:"):
        amount = f"coalesce(p.{kind[6:]}, 0)::float8"
    elif kind == "count":
        town_key, town_amount, town_join = "m.primary_town_code", "1", ""
    elif kind == "quantity":
        measured = (f"CASE WHEN p.unit IS NULL OR p.unit NOT IN {QUANTITY_UNITS} THEN 'mismatch' "
                    "WHEN p.quantity IS NULL THEN 'unmeasured' ELSE 'ok' END")
        amount = "p.quantity::float8"
    elif kind == "length":
        measured = ("CASE WHEN ST_Dimension(p.geom) = 1 OR (p.quantity IS NOT NULL AND p.unit IN ('公里', '千米', 'km')) "
                    "THEN 'ok' ELSE 'unmeasured' END")
        amount = ("CASE WHEN ST_Dimension(p.geom) = 1 THEN (SELECT coalesce(sum(coalesce(s.length_km, 0)), 0) "
                  "FROM project_towns s WHERE s.project_id = p.id) ELSE p.quantity::float8 END")
        town_amount = "coalesce(p.length_km, m.amount * p.share)"
    if target_id == "b-growth":
        lo, current_lo, hi = dt.date(AS_OF.year, 1, 1), dt.date(AS_OF.year, 1, 1), AS_OF
    else:
        lo, current_lo, hi = dt.date(2024, 1, 1), dt.date(AS_OF.year if per_year else 2024, 1, 1), AS_OF
    return REFERENCE_SQL.format(
        day=f"p.{day}", measured=measured, amount=amount, where=where, stages=stages,
        districts="p.district_code IN ({})".format(", ".join(f"'{d}'" for d in districts)),
        per_year="extract(year FROM p.{})::int".format(day) if per_year else "0", lo=lo, hi=hi,
        current_lo=current_lo, town_key=town_key, town_amount=town_amount,
        town_join=town_join)


MONTHLY_SQL = """
WITH months AS (SELECT to_char(d, 'YYYY-MM') AS period
                FROM generate_series(date '{before}-01', date '{last}-01', interval '1 month') d),
figures AS (  -- each current figure and the period of the project's next one
    SELECT r.project_id, r.period, r.completed_investment::float8 AS cum,
           lead(r.period) OVER (PARTITION BY r.project_id ORDER BY r.period) AS next_period
    FROM progress_reports r
    WHERE r.superseded_at IS NULL AND r.completed_investment IS NOT NULL AND r.period <= '{last}'
),
latest AS (  -- each project's latest figure up to each month
    SELECT mo.period, f.project_id, f.cum
    FROM months mo JOIN figures f ON f.period <= mo.period AND (f.next_period IS NULL OR f.next_period > mo.period)
),
per_project AS (
    SELECT l.period, l.project_id, l.cum,
           l.cum - coalesce(lag(l.cum) OVER (PARTITION BY l.project_id ORDER BY l.period), 0) AS increase
    FROM latest l
)
SELECT 'domain' AS kind, x.period, p.domain_code AS key, count(*) AS n, sum(x.cum) AS cum, sum(x.increase) AS increase
FROM per_project x JOIN projects p ON p.id = x.project_id
WHERE x.period >= '{first}' AND p.deleted_at IS NULL GROUP BY x.period, p.domain_code
UNION ALL
SELECT 'town', x.period, pt.town_code, count(*), sum(x.cum * pt.share), sum(x.increase * pt.share)
FROM per_project x JOIN projects p ON p.id = x.project_id JOIN project_towns pt ON pt.project_id = p.id
WHERE x.period >= '{first}' AND p.deleted_at IS NULL GROUP BY x.period, pt.town_code
UNION ALL
SELECT 'reported', r.period, NULL, count(DISTINCT r.project_id), NULL, NULL
FROM progress_reports r JOIN projects p ON p.id = r.project_id
WHERE r.superseded_at IS NULL AND r.period BETWEEN '{first}' AND '{last}' AND p.deleted_at IS NULL
GROUP BY r.period
"""


PROVINCE = "37"
PROVINCE_TARGETS = {  # province target id → the district target whose reference SQL it shares
    "p-count": "b-count", "p-total": "b-total", "p-machines": "b-machines", "p-gas": "b-gas"}
PROVINCE_PLAN = f"""
jurisdictions:
  - code: "{PROVINCE}"
    name: 山东省
    targets:
      - {{id: p-count, text: 全省工业项目数, metric: count, filter: {{domain: 工业, min_total_investment: 500}},
         threshold: 1000000, deadline: 2026-12-31}}
      - {{id: p-total, text: 全省总投资, metric: sum_total_investment, threshold: 10000000, deadline: 2026-12-31}}
      - {{id: p-machines, text: 全省更新设备台（套）, metric: sum_quantity, filter: {{domain: [医疗卫生, 农业]}},
         unit: 台（套）, threshold: 1000000, deadline: 2026-12-31}}
      - {{id: p-gas, text: 全省更新管网公里, metric: sum_length_km, filter: {{domain: 市政基础设施}}, unit: 公里,
         threshold: 100000, deadline: 2026-12-31}}
"""
# Deal the projects out over the province's districts (as the owner, reference checks off: the
# towns stay the demo district's, which only the per-district split would notice).
SPREAD = """
INSERT INTO districts (code, name) SELECT '379' || lpad(i::text, 3, '0'), '基准区' || i FROM generate_series(1, {more}) i;
SET session_replication_role = replica;
CREATE TEMP TABLE spread AS
SELECT code, (row_number() OVER (ORDER BY code) - 1)::int AS k FROM districts WHERE province_code = '{province}';
UPDATE projects p SET district_code = s.code FROM spread s WHERE s.k = p.id % {k};
UPDATE project_towns t SET district_code = s.code FROM spread s WHERE s.k = t.project_id % {k};
SET session_replication_role = origin;
VACUUM ANALYZE projects;
VACUUM ANALYZE project_towns;
"""


def spread_over_province(url: str, k: int) -> None:
    started = time.perf_counter()
    common.psql(url, "-f", "-", stdin=SPREAD.format(more=k - 1, province=PROVINCE, k=k))
    spread = common.scalar(url, "SELECT count(DISTINCT district_code) FROM projects")
    assert int(spread) == k, f"projects in {spread} districts, not {k}"
    plan = common.WORKDIR / "targets-bench-province.yaml"
    plan.write_text(PROVINCE_PLAN, encoding="utf-8")
    common.eqreg(url, "targets", "load", str(plan))
    common.log.info("projects dealt out over %d districts of province %s in %.1f s", k, PROVINCE,
                    time.perf_counter() - started)


def generate(url: str, n: int) -> None:
    generate_projects(url, n)
    started = time.perf_counter()
    common.psql(url, "-c", "INSERT INTO districts (code, name) VALUES ('370403', '薛城区') ON CONFLICT DO NOTHING",
                "-f", "-", stdin=DETAILS)
    common.psql(url, "-c", "VACUUM ANALYZE projects", "-c", "VACUUM ANALYZE progress_reports")
    common.log.info("dates, units and %s progress reports in %.1f s",
                    common.scalar(url, "SELECT count(*) FROM progress_reports"), time.perf_counter() - started)
    common.WORKDIR.mkdir(parents=True, exist_ok=True)
    plan = common.WORKDIR / "targets-bench.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    common.eqreg(url, "targets", "load", str(plan))


def timed(call) -> tuple[common.Run, object]:
    started = time.perf_counter()
    result = call()
    return common.Run(time.perf_counter() - started, 0.0), result


def compare_targets(ours, bare) -> None:
    """Values, per-year values, per-town split and problem counts must match the bare SQL's."""
    for target in ours.targets:
        if target.id not in bare:
            continue
        rows = bare[target.id]
        totals = {r.w: r.amount or 0.0 for r in rows if r.kind == "total"}
        towns = {r.town: r.amount or 0.0 for r in rows if r.kind == "town"}
        problems = sum(r.n for r in rows if r.kind == "problems")  # one row per district
        if target.years:
            assert {int(y): round(v, 2) for y, v in target.years.items() if v} == \
                {w: round(v, 2) for w, v in totals.items() if round(v, 2)}, (target.id, target.years, totals)
        elif target.metric == "growth_vs_baseline":
            assert abs(target.value - (totals.get(0, 0.0) / 100000 - 1)) <= 0.00005 + 1e-12, target.id  # 4 places
        else:
            assert abs(target.value - totals.get(0, 0.0)) < 0.01 + 1e-9 * abs(target.value), (target.id, target.value, totals)
        if target.metric != "growth_vs_baseline":
            assert {k: v for k, v in target.by_town.items() if v} == \
                {k: round(v, 2 if target.metric != "sum_quantity" else 3) if target.metric != "count" else int(v)
                 for k, v in towns.items() if round(v, 2)}, target.id
        assert len(target.undated) + len(target.unit_mismatch) + len(target.unmeasured) == problems, target.id


def compare_months(ours: list[dict], bare) -> None:
    for row in ours:
        domains = [r for r in bare if r.kind == "domain" and r.period == row["key"]]
        assert row["project_count"] == sum(r.n for r in domains), row["key"]
        assert abs(row["completed_investment"] - sum(r.cum for r in domains)) < 1, row["key"]
        assert abs(row["increase"] - sum(r.increase for r in domains)) < 1, row["key"]
        towns = {r.key: round(r.cum, 2) for r in bare if r.kind == "town" and r.period == row["key"]}
        assert {k: v["completed_investment"] for k, v in row["by_town"].items()} == towns, row["key"]
        reported = [r.n for r in bare if r.kind == "reported" and r.period == row["key"]]
        assert row["reported_count"] == (reported[0] if reported else 0), row["key"]


def measure(session, ours_call, bare_call, repeat: int, label: str):
    from registry import cache
    cache.clear()
    ours_call(), bare_call()  # warm-up
    ours_runs, bare_runs = [], []
    for attempt in range(1, repeat + 1):
        cache.clear()
        run, ours = timed(ours_call)
        ours_runs.append(run)
        run, bare = timed(bare_call)
        bare_runs.append(run)
        common.log.info("%s run %d: ours %.2f s, bare SQL %.2f s", label, attempt, ours_runs[-1].seconds,
                        bare_runs[-1].seconds)
    return common.median_seconds(ours_runs), common.median_seconds(bare_runs), ours, bare


def main() -> None:
    parser = common.arguments("plan targets and monthly figures vs the bare SQL aggregates", n=1_000_000)
    parser.add_argument("--province", type=int, default=0, metavar="K",
                        help="also measure province targets over K districts (e.g. 136); default off")
    args = parser.parse_args()
    common.setup_logging()
    url = args.database_url
    common.WORKDIR.mkdir(parents=True, exist_ok=True)
    common.fresh_database(url)
    generate(url, args.n)

    from registry import db as registry_db
    from registry.figures import monthly_figures
    from registry.scope import Scope
    from registry.target_report import report
    engine = registry_db.make_engine(url)
    scope = Scope.system("bench")
    statements = {t: text(reference_statement(t)) for t in REFERENCE_TARGETS}
    before = f"{int(MONTHS[0][:4]) - (MONTHS[0][5:] == '01')}-{(int(MONTHS[0][5:]) - 2) % 12 + 1:02d}"
    monthly = text(MONTHLY_SQL.format(first=MONTHS[0], last=MONTHS[1], before=before))
    with registry_db.session_scope(engine) as session:
        targets_ours, targets_bare, ours_report, bare_targets = measure(
            session, lambda: report(session, scope, as_of=AS_OF, district=DISTRICT),  # the district's alone
            lambda: {t: session.execute(s).all() for t, s in statements.items()}, args.repeat, "targets")
        months_ours, months_bare, ours_months, bare_months = measure(
            session, lambda: monthly_figures(session, scope, *MONTHS),
            lambda: session.execute(monthly).all(), args.repeat, "monthly")
        province = None
        if args.province > 1:  # the same measures on the same projects: one district, then 136
            alone = measure_level(session, scope, report, args.repeat, {b: b for b in PROVINCE_TARGETS.values()})
    if args.province > 1:
        spread_over_province(url, args.province)
        with registry_db.session_scope(engine) as session:
            province = measure_level(session, scope, report, args.repeat, PROVINCE_TARGETS, province=True)
    engine.dispose()
    compare_targets(ours_report, bare_targets)
    compare_months(ours_months, bare_months)

    reports = common.scalar(url, "SELECT count(*) FROM progress_reports")
    print(f"Plan targets ({len(ours_report.targets)}) and monthly figures ({MONTHS[0]}…{MONTHS[1]}), "
          f"{args.n} projects, {reports} progress reports; medians of {args.repeat} after a warm-up")
    rows = []
    cases = [("targets report", targets_ours, targets_bare), ("monthly figures", months_ours, months_bare)]
    if province is not None:
        cases += [("4 targets, one district", *alone), (f"same 4, province of {args.province} districts", *province)]
    for name, ours_s, bare_s in cases:
        ratio = ours_s / bare_s
        rows.append([name, ours_s, bare_s, ratio, common.verdict(ratio, 1.5)])
        common.record_figure(f"{name.capitalize()}, {args.n} projects vs bare SQL", ours=ours_s,
                             reference=bare_s, unit="s", rows=args.n, max_ratio=1.5)
    common.print_table(["", "ours s", "bare SQL s", "ratio", "budget <= 1.5x"], rows)


def measure_level(session, scope, report, repeat: int, ids: dict[str, str], *, province: bool = False
                  ) -> tuple[float, float]:
    """Targets ``ids`` (target id → the reference's district target) one by one vs their bare SQL,
    over the district or (``province``) the province's districts; values and problems compared."""
    from registry.target_report import Report
    districts = [DISTRICT]
    if province:
        districts = list(session.execute(text("SELECT code FROM districts WHERE province_code = :p ORDER BY code"),
                                         {"p": PROVINCE}).scalars())
    statements = {t: text(reference_statement(b, districts)) for t, b in ids.items()}

    def ours():
        found = [report(session, scope, as_of=AS_OF, target_id=t, with_projects=False).targets[0] for t in ids]
        return Report(AS_OF, found, {})
    ours_s, bare_s, ours_report, bare = measure(
        session, ours, lambda: {t: session.execute(s).all() for t, s in statements.items()}, repeat,
        "province" if province else "one district")
    for target in ours_report.targets:  # by_town is compared by compare_targets for the district
        rows = bare[target.id]
        total = float(sum(r.amount or 0 for r in rows if r.kind == "total"))
        assert abs(target.value - total) < 0.01 + 1e-9 * abs(total), (target.id, target.value, total)
        problems = sum(r.n for r in rows if r.kind == "problems")  # one row per district
        assert len(target.undated) + len(target.unit_mismatch) + len(target.unmeasured) == problems, target.id
    return ours_s, bare_s


if __name__ == "__main__":
    main()
