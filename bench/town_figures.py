"""Benchmark: per-town figures at N projects (DESIGN §7, budget ≤ 1.5× the bare SQL aggregate).

Data is made straight in SQL (no Python per row): ``ST_GeneratePoints`` inside each current town
of the demo district, one share of 1 per point project; every tenth project is a short pipeline
split 0.6 / 0.4 with the next town (length in ``project_towns.length_km``), so the pipeline-km
figure has something to add up. Stages, domains and money cycle deterministically.

Ours: ``registry.figures.town_figures(session, Scope.system())`` — count, apportioned total and
completed money, density, completion rate, counts by stage and by domain, pipeline km by category,
as Python dicts. Reference: the bare aggregate, ``GROUP BY town`` over ``project_towns JOIN
projects`` (count and apportioned money only). Both run in one warm session, alternating, after
a warm-up run each.

    .venv/bin/python bench/town_figures.py --n 1000000
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench import common  # noqa: E402

GENERATE = """
CREATE TEMP TABLE bench_points AS
SELECT row_number() OVER () AS i, pts.town_id, pts.town_code, pts.next_id, pts.next_code, pts.geom
FROM (
    SELECT t.id AS town_id, t.code AS town_code,
           coalesce(lead(t.id) OVER w, min(t.id) OVER ()) AS next_id,
           coalesce(lead(t.code) OVER w, min(t.code) OVER ()) AS next_code,
           (ST_Dump(ST_GeneratePoints(t.geom, {per_town}, 7))).geom AS geom
    FROM towns t
    WHERE t.district_code = '{district}' AND t.valid_to IS NULL
    WINDOW w AS (ORDER BY t.code)
) pts;

INSERT INTO projects (id, district_code, code, name, domain_code, category, owner, geom, total_investment,
                      completed_investment, stage, primary_town_code, length_km, created_by)
SELECT b.i, '{district}', '2024-{district}-' || lpad(b.i::text, 10, '0'), '基准项目' || b.i,
       (ARRAY['industry','municipal','medical','agriculture','transport','building','education',
              'culture_tourism','sports','recycling'])[1 + b.i % 10],
       CASE WHEN b.i % 10 = 1 THEN (ARRAY['燃气管网','供热管网','供水设施'])[1 + b.i % 3] END,
       '基准单位' || (b.i % 997),
       CASE WHEN b.i % 10 = 1 THEN ST_MakeLine(b.geom, ST_Translate(b.geom, 0.01, 0)) ELSE b.geom END,
       50 + (b.i * 7919) % 10000,
       CASE (b.i % 6) WHEN 3 THEN 50 + (b.i * 7919) % 10000 WHEN 2 THEN round((50 + (b.i * 7919) % 10000) * 0.4) END,
       (ARRAY['reserve','approval','construction','completed','suspended','cancelled'])[1 + b.i % 6],
       b.town_code, CASE WHEN b.i % 10 = 1 THEN 0.9 END, 'bench'
FROM bench_points b;

INSERT INTO project_towns (project_id, town_code, district_code, town_id, share, length_km)
SELECT b.i, b.town_code, '{district}', b.town_id, CASE WHEN b.i % 10 = 1 THEN 0.6 ELSE 1.0 END,
       CASE WHEN b.i % 10 = 1 THEN 0.54 END
FROM bench_points b
UNION ALL
SELECT b.i, b.next_code, '{district}', b.next_id, 0.4, 0.36
FROM bench_points b WHERE b.i % 10 = 1;

SELECT setval('projects_id_seq', (SELECT max(id) FROM projects));
"""

BARE_AGGREGATE = text("""
SELECT pt.town_code, count(*) AS project_count,
       sum(p.total_investment::float8 * pt.share) AS total_investment,
       sum(coalesce(p.completed_investment, 0)::float8 * pt.share) AS completed_investment
FROM project_towns pt
JOIN projects p ON p.id = pt.project_id
WHERE p.deleted_at IS NULL
GROUP BY pt.town_code
ORDER BY pt.town_code
""")


def generate(url: str, n: int) -> None:
    towns = int(common.scalar(url, f"SELECT count(*) FROM towns WHERE district_code = '{common.DEMO_DISTRICT}' "
                                   "AND valid_to IS NULL"))
    started = time.perf_counter()
    common.psql(url, "-c", "SET maintenance_work_mem = '256MB'", "-f", "-",
                stdin=GENERATE.format(per_town=-(-n // towns), district=common.DEMO_DISTRICT))
    common.psql(url, "-c", "VACUUM ANALYZE projects", "-c", "VACUUM ANALYZE project_towns")
    common.log.info("generated %s projects in SQL in %.1f s",
                    common.scalar(url, "SELECT count(*) FROM projects"), time.perf_counter() - started)


def timed(call) -> tuple[common.Run, object]:
    started = time.perf_counter()
    result = call()
    return common.Run(time.perf_counter() - started, 0.0), result


def main() -> None:
    args = common.arguments("per-town figures vs the bare SQL aggregate", n=1_000_000).parse_args()
    common.setup_logging()
    url = args.database_url
    common.fresh_database(url)
    generate(url, args.n)

    from registry import cache
    from registry import db as registry_db
    from registry.figures import town_figures
    from registry.scope import Scope
    engine = registry_db.make_engine(url)
    ours_runs, bare_runs = [], []
    with registry_db.session_scope(engine) as session:
        scope = Scope.system("bench")
        town_figures(session, scope), session.execute(BARE_AGGREGATE).all()  # warm-up
        for attempt in range(1, args.repeat + 1):
            cache.clear()  # measure the aggregate, not a hit in the figure cache
            run, figures = timed(lambda: town_figures(session, scope))
            ours_runs.append(run)
            run, bare = timed(lambda: session.execute(BARE_AGGREGATE).all())
            bare_runs.append(run)
            common.log.info("run %d: town_figures %.2f s, bare aggregate %.2f s", attempt,
                            ours_runs[-1].seconds, bare_runs[-1].seconds)
    engine.dispose()
    # both must agree on what they share: counts and apportioned money per town
    ours_by_town = {f["code"]: (f["project_count"], round(f["total_investment"])) for f in figures}
    bare_by_town = {r.town_code: (r.project_count, round(r.total_investment)) for r in bare}
    if {k: v for k, v in ours_by_town.items() if v[0]} != bare_by_town:
        raise SystemExit(f"figures disagree: {ours_by_town} vs {bare_by_town}")

    ours_s, bare_s = common.median_seconds(ours_runs), common.median_seconds(bare_runs)
    ratio = ours_s / bare_s
    shares = sum(v[0] for v in bare_by_town.values())
    print(f"Per-town figures, {args.n} projects ({shares} town shares, {len(bare_by_town)} towns); "
          f"medians of {args.repeat} after a warm-up")
    common.print_table(["", "median s"], [["registry.figures.town_figures", ours_s],
                                         ["bare GROUP BY town aggregate", bare_s]])
    print(f"ratio {ratio:.2f}x  budget <= 1.5x  {common.verdict(ratio, 1.5)}")
    common.record_figure(f"Per-town figures, {args.n} projects vs bare aggregate", ours=ours_s,
                         reference=bare_s, unit="s", rows=args.n, max_ratio=1.5)


if __name__ == "__main__":
    main()
