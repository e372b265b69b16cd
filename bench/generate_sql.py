"""Generate N synthetic projects entirely in SQL (for the 1M-project map benchmarks).

``bench/generate_projects.py`` builds geometries in Python and matches them to towns through
the application's matching, exact but about 1 000 projects/s on two cores: hours for 10^6. This
script does the same kind of data in a few INSERT … SELECT statements inside PostgreSQL:
80 % points, 12 % pipelines (three legs, 0.3–3 km), 8 % sites (rectangles, 60–400 m a side),
70 % of them gathered around 40 hot spots, the rest uniform over the district; stages and
domains drawn with the same weights. The simplification: each project gets ONE town share
(share 1, the town of its first vertex / centre), so a pipeline that crosses a town boundary is
counted in one town only. Maps and tiles do not care; per-town figures would be slightly off.

    .venv/bin/python bench/generate_sql.py --database-url postgresql://…/eqreg_bench_tiles \\
        --district 370403 --n 1000000
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

import psycopg

log = logging.getLogger("bench.generate_sql")

# :district :n :offset — codes use project type 98 (bench/generate_projects.py uses 99)
STATEMENTS = [
    "SELECT setseed(0.42)",
    """CREATE TEMP TABLE gen_district AS
       SELECT ST_Union(geom) AS geom, ST_XMin(ST_Extent(geom)) AS w, ST_YMin(ST_Extent(geom)) AS s,
              ST_XMax(ST_Extent(geom)) AS e, ST_YMax(ST_Extent(geom)) AS n
       FROM towns WHERE district_code = %(district)s AND valid_to IS NULL""",
    """CREATE TEMP TABLE gen_spots AS
       SELECT row_number() OVER () - 1 AS i, ST_X(d.geom) AS x, ST_Y(d.geom) AS y
       FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 40, 42))).geom FROM gen_district) d""",
    # 1.5 × n candidates (some fall outside the district); Box–Muller for the spread around spots
    """CREATE TEMP TABLE gen_points AS
       SELECT row_number() OVER () AS k, ST_SetSRID(ST_MakePoint(x, y), 4326) AS geom
       FROM (SELECT CASE WHEN c < 0.7 THEN sp.x + 0.012 * sqrt(-2 * ln(1 - u1)) * cos(2 * pi() * u2)
                         ELSE d.w + ux * (d.e - d.w) END AS x,
                    CASE WHEN c < 0.7 THEN sp.y + 0.012 * sqrt(-2 * ln(1 - u1)) * sin(2 * pi() * u2)
                         ELSE d.s + uy * (d.n - d.s) END AS y
             FROM (SELECT g, random() AS c, random() AS u1, random() AS u2, random() AS ux, random() AS uy
                   FROM generate_series(1, (%(n)s * 1.5)::int) g) g
             CROSS JOIN gen_district d
             JOIN gen_spots sp ON sp.i = g.g %% 40) c""",
    # the town of each candidate (town_parts: the indexed, subdivided town pieces)
    """CREATE TEMP TABLE gen_located AS
       SELECT row_number() OVER (ORDER BY p.k) AS i, p.geom, tp.town_id, tp.code AS town_code
       FROM gen_points p
       JOIN LATERAL (SELECT town_id, code FROM town_parts tp
                     WHERE tp.district_code = %(district)s AND ST_Intersects(tp.geom, p.geom) LIMIT 1) tp ON true
       ORDER BY p.k LIMIT %(n)s""",
    """CREATE TEMP TABLE gen_projects AS
       SELECT i, town_id, town_code, kind, stage, domain_code, total,
              CASE kind WHEN 'point' THEN geom
                   WHEN 'line' THEN ST_MakeLine(ARRAY[geom,
                        ST_Translate(geom, dx, dy), ST_Translate(geom, dx + dy * 0.5, dy - dx * 0.5),
                        ST_Translate(geom, 2 * dx + dy * 0.5, 2 * dy - dx * 0.5)])
                   ELSE ST_Envelope(ST_Buffer(geom, hw, 'quad_segs=1')) END AS geom
       FROM (SELECT l.*,
                    CASE WHEN r < 0.80 THEN 'point' WHEN r < 0.92 THEN 'line' ELSE 'polygon' END AS kind,
                    (0.0027 + random() * 0.024) / 3 * cos(a) AS dx, (0.0027 + random() * 0.024) / 3 * sin(a) AS dy,
                    0.0003 + random() * 0.0015 AS hw,
                    (ARRAY['reserve','approval','construction','completed','suspended','cancelled'])[
                        CASE WHEN s < 0.25 THEN 1 WHEN s < 0.45 THEN 2 WHEN s < 0.75 THEN 3
                             WHEN s < 0.95 THEN 4 WHEN s < 0.98 THEN 5 ELSE 6 END] AS stage,
                    dm.codes[1 + (i %% array_length(dm.codes, 1))] AS domain_code,
                    round(exp(6.0 + 1.2 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::numeric, 2) AS total
             FROM (SELECT *, random() AS r, random() AS s, random() * 2 * pi() AS a FROM gen_located) l
             CROSS JOIN (SELECT array_agg(code ORDER BY code) AS codes FROM domains) dm) q""",
    """INSERT INTO projects (district_code, code, name, domain_code, category, owner, geom, total_investment,
                            equipment_investment, completed_investment, stage, planned_start, actual_start,
                            actual_end, length_km, area_km2, primary_town_code, created_by)
       SELECT %(district)s::text,
              format('2025-%%s-%%s-98-%%s%%s', %(district)s::text, lpad((10 + (i + %(offset)s) / 100000)::text, 2, '0'),
                     lpad(((i + %(offset)s) %% 100000)::text, 5, '0'), (i + %(offset)s) %% 10),
              '设备更新项目' || (i + %(offset)s), domain_code, NULL, '测试企业' || (i %% 997) || '有限公司', geom,
              total, round(total * 0.6, 2),
              CASE stage WHEN 'completed' THEN total WHEN 'construction' THEN round(total * 0.45, 2) END,
              stage, DATE '2024-03-01',
              CASE WHEN stage IN ('construction', 'completed') THEN DATE '2024-04-01' END,
              CASE WHEN stage = 'completed' THEN DATE '2025-03-01' END,
              CASE WHEN kind = 'line' THEN ST_Length(geom::geography) / 1000 END,
              CASE WHEN kind = 'polygon' THEN ST_Area(geom::geography) / 1e6 END,
              town_code, 'bench-sql'
       FROM gen_projects ORDER BY i""",
    """INSERT INTO project_towns (project_id, town_code, district_code, town_id, share, length_km, area_km2)
       SELECT p.id, p.primary_town_code, p.district_code, t.id, 1, p.length_km, p.area_km2
       FROM projects p JOIN towns t ON t.code = p.primary_town_code AND t.valid_to IS NULL
       WHERE p.created_by = 'bench-sql' AND p.id > %(first_id)s""",
]


def generate_projects_sql(url: str, *, district_code: str, n: int) -> int:
    """Insert ``n`` synthetic projects (EPSG:4326) into ``district_code``, whose towns must be
    loaded, each with one town share; commits and returns how many were added."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET work_mem = '256MB'")
        offset = conn.execute("SELECT count(*) FROM projects WHERE code LIKE %s",
                              ("____-______-__-98-%",)).fetchone()[0]
        first_id = conn.execute("SELECT coalesce(max(id), 0) FROM projects").fetchone()[0]
        params = {"district": district_code, "n": n, "offset": offset, "first_id": first_id}
        for statement in STATEMENTS:
            step = time.perf_counter()
            conn.execute(statement, params)
            log.info("%.1f s  %s", time.perf_counter() - step, " ".join(statement.split())[:70])
        added = conn.execute("SELECT count(*) FROM projects WHERE id > %s", (first_id,)).fetchone()[0]
        conn.commit()
    log.info("generated %d projects in SQL in %.1f s", added, time.perf_counter() - started)
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--district", required=True, help="6-digit district code whose towns are loaded")
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    generate_projects_sql(args.database_url, district_code=args.district, n=args.n)


if __name__ == "__main__":
    main()
