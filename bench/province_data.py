"""Build a province for the province-scale benchmarks (issue 14 item 4): 136 districts in 16
cities under province 37, 10 towns each, 1 000 000 projects, district plan targets.

* **Boundaries** are generated in Python and loaded the way the registry loads boundaries
  (``eqreg boundaries load --level town``: districts with their city and province codes, versioned
  towns, ``town_parts``, district outlines from the towns). Districts are cells of a grid; each is
  split into 5 × 2 towns whose inner corners are displaced and whose edges wiggle (``--edge-vertices``
  points each), the same points on both sides of a shared edge, so towns and districts tile
  without gaps or overlaps and carry realistic vertex counts (a roll-up map's size depends on them).
* **Projects** are made in SQL (like ``bench/generate_sql.py``): districts weighted 0.3–2.0, 70 %
  of the projects around 15 hot spots per district, the rest uniform; 80 % points, 12 % pipelines
  (three legs, 0.5–6 km, many crossing a town border), 8 % sites (rectangles); every stage, domain,
  money, dates, quantities with units; six months of progress reports. The district of a project is
  that of the town its first vertex lies in. Rows are stored district by district, as per-district
  imports leave them (ids stay random across districts). Town shares come from the registry's own matching rule
  (``geo.matching.compute_shares``), set-based over all projects in one statement; projects and
  shares are written once (no UPDATE of a million rows).
* **Targets**: nine district targets for every district (each metric), from a generated YAML file
  through ``eqreg targets load``.
* **Accounts** (password ``bench-password``): ``bench-province`` (viewer of province 37),
  ``bench-bureau`` (bureau of the first district).

    .venv/bin/python bench/province_data.py --database-url postgresql://…/eqreg_bench_province \\
        --districts 136 --projects 1000000
    .venv/bin/python bench/province_data.py --database-url … --quick   # 17 districts, 20 000 projects

The database is dropped and re-created (its name must start with ``eqreg_bench``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench import common  # noqa: E402

PROVINCE = "37"
CITIES = 16
TOWN_COLUMNS, TOWN_ROWS = 5, 2
CELL_LON, CELL_LAT = 0.30, 0.25  # one district: about 27 × 28 km
ORIGIN = (114.9, 34.6)
PASSWORD = "bench-password"
PROVINCE_USER, BUREAU_USER = "bench-province", "bench-bureau"
QUICK = {"districts": 17, "projects": 20_000}
AS_OF = "2025-06-30"


# --- boundaries ----------------------------------------------------------------------------

def district_codes(districts: int) -> list[str]:
    """``districts`` codes spread over cities of about 8.5 districts (at most 16: 3701…3716), 37CCDD
    with DD from 01; 136 districts make Shandong's 16 cities."""
    cities = max(1, min(CITIES, round(districts / 8.5)))
    codes = []
    for c in range(cities):
        count = districts // cities + (c < districts % cities)
        codes += [f"{PROVINCE}{c + 1:02d}{d + 1:02d}" for d in range(count)]
    return codes


def _unit(*key) -> float:
    """A deterministic number in [0, 1) from ``key`` (same key, same number: shared edges agree)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _corner(i: int, j: int, columns: int, rows: int) -> tuple[float, float]:
    """Town-grid corner (i, j) of the whole province; inner corners of a district are displaced."""
    x, y = ORIGIN[0] + i * CELL_LON / TOWN_COLUMNS, ORIGIN[1] + j * CELL_LAT / TOWN_ROWS
    on_district_edge = i % TOWN_COLUMNS == 0 or j % TOWN_ROWS == 0
    if not on_district_edge:
        x += (_unit("x", i, j) - 0.5) * 0.3 * CELL_LON / TOWN_COLUMNS
        y += (_unit("y", i, j) - 0.5) * 0.3 * CELL_LAT / TOWN_ROWS
    return x, y


def _edge(a: tuple[int, int], b: tuple[int, int], points: int, columns: int, rows: int) -> list[tuple]:
    """The wiggly edge between grid corners ``a`` and ``b`` (endpoints included), a → b."""
    forward = a <= b
    p, q = (a, b) if forward else (b, a)
    (x0, y0), (x1, y1) = _corner(*p, columns, rows), _corner(*q, columns, rows)
    length = math.hypot(x1 - x0, y1 - y0)
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length
    phase = _unit("phase", p, q) * 2 * math.pi
    line = []
    for k in range(points + 1):
        t = k / points
        wiggle = length * math.sin(math.pi * t) * (0.02 * math.sin(2 * math.pi * t + phase)
                                                   + 0.008 * math.sin(9 * math.pi * t + 2 * phase))
        line.append((round(x0 + t * (x1 - x0) + nx * wiggle, 6), round(y0 + t * (y1 - y0) + ny * wiggle, 6)))
    return line if forward else line[::-1]


def boundary_file(codes: list[str], edge_points: int, path: Path) -> Path:
    """A GeoJSON of every town (``code``, ``name``, ``district_code``, ``district_name``)."""
    columns = math.ceil(math.sqrt(len(codes)))
    rows = math.ceil(len(codes) / columns)
    features = []
    for n, district in enumerate(codes):
        ci, cj = n % columns, n // columns
        district_name = f"示范{district[2:4]}市{int(district[4:])}区"
        for t in range(TOWN_COLUMNS * TOWN_ROWS):
            i = ci * TOWN_COLUMNS + t % TOWN_COLUMNS
            j = cj * TOWN_ROWS + t // TOWN_COLUMNS
            corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1), (i, j)]
            ring = []
            for a, b in zip(corners, corners[1:]):
                ring += _edge(a, b, edge_points, columns, rows)[:-1]
            ring.append(ring[0])
            code = f"{district}{100 + t + 1:03d}"
            features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                             "properties": {"code": code, "name": f"{district_name}第{t + 1}镇", "level": "镇",
                                            "district_code": district, "district_name": district_name}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")
    return path


# --- projects ------------------------------------------------------------------------------

# :n  — codes use project type 97 (generate_sql.py 98, generate_projects.py 99)
PROJECT_STATEMENTS = [
    "SELECT setseed(0.37)",
    """CREATE TEMP TABLE gen_district AS
       SELECT row_number() OVER (ORDER BY code) - 1 AS d, code, geom,
              ST_XMin(geom) AS w, ST_YMin(geom) AS s, ST_XMax(geom) AS e, ST_YMax(geom) AS n,
              0.3 + 1.7 * random() AS weight
       FROM districts WHERE province_code = '37' AND geom IS NOT NULL""",
    """CREATE TEMP TABLE gen_weight AS
       SELECT d, sum(weight) OVER (ORDER BY d) / sum(weight) OVER () AS upto FROM gen_district""",
    """CREATE TEMP TABLE gen_spots AS
       SELECT d.d, row_number() OVER (PARTITION BY d.d) - 1 AS i, ST_X(s.geom) AS x, ST_Y(s.geom) AS y
       FROM gen_district d, LATERAL ST_Dump(ST_GeneratePoints(d.geom, 15, 37 + d.d::int)) s""",
    # 1.3 × n candidates: a district by weight, then around a spot (Box–Muller) or uniform
    """CREATE TEMP TABLE gen_points AS
       SELECT g.k, ST_SetSRID(ST_MakePoint(
                  CASE WHEN g.c < 0.7 THEN sp.x + 0.01 * sqrt(-2 * ln(1 - g.u1)) * cos(2 * pi() * g.u2)
                       ELSE d.w + g.ux * (d.e - d.w) END,
                  CASE WHEN g.c < 0.7 THEN sp.y + 0.01 * sqrt(-2 * ln(1 - g.u1)) * sin(2 * pi() * g.u2)
                       ELSE d.s + g.uy * (d.n - d.s) END), 4326) AS geom
       FROM (SELECT k, random() AS pick, random() AS c, random() AS u1, random() AS u2, random() AS ux,
                    random() AS uy, (random() * 15)::int %% 15 AS spot
             FROM generate_series(1, (%(n)s * 1.3)::int) k) g
       CROSS JOIN (SELECT array_agg(upto ORDER BY d) AS uptos FROM gen_weight) w
       JOIN gen_district d ON d.d = width_bucket(g.pick, w.uptos)
       JOIN gen_spots sp ON sp.d = d.d AND sp.i = g.spot""",
    # the district of each candidate: that of the town piece it lies in (outside the province: dropped)
    """CREATE TEMP TABLE gen_located AS
       SELECT row_number() OVER (ORDER BY p.k) AS i, p.geom, tp.district_code
       FROM gen_points p
       JOIN LATERAL (SELECT district_code FROM town_parts tp WHERE ST_Intersects(tp.geom, p.geom) LIMIT 1) tp ON true
       ORDER BY p.k LIMIT %(n)s""",
    """CREATE TEMP TABLE gen_projects AS
       SELECT i, district_code, kind, stage, domain_code, total,
              CASE kind WHEN 'point' THEN geom
                   WHEN 'line' THEN ST_MakeLine(ARRAY[geom,
                        ST_Translate(geom, dx, dy), ST_Translate(geom, dx + dy * 0.5, dy - dx * 0.5),
                        ST_Translate(geom, 2 * dx + dy * 0.5, 2 * dy - dx * 0.5)])
                   ELSE ST_Envelope(ST_Buffer(geom, hw, 'quad_segs=1')) END AS geom,
              CASE WHEN stage IN ('construction', 'completed') AND i %% 50 <> 0
                   THEN date '2023-10-01' + (i * 37 %% 800)::int END AS actual_start
       FROM (SELECT l.*,
                    CASE WHEN r < 0.80 THEN 'point' WHEN r < 0.92 THEN 'line' ELSE 'polygon' END AS kind,
                    (0.0045 + random() * 0.05) / 3 * cos(a) AS dx, (0.0045 + random() * 0.05) / 3 * sin(a) AS dy,
                    0.0003 + random() * 0.0015 AS hw,
                    (ARRAY['reserve','approval','construction','completed','suspended','cancelled'])[
                        CASE WHEN s < 0.25 THEN 1 WHEN s < 0.45 THEN 2 WHEN s < 0.75 THEN 3
                             WHEN s < 0.95 THEN 4 WHEN s < 0.98 THEN 5 ELSE 6 END] AS stage,
                    dm.codes[1 + (i %% array_length(dm.codes, 1))] AS domain_code,
                    round(exp(6.0 + 1.2 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::numeric, 2)
                        AS total
             FROM (SELECT *, random() AS r, random() AS s, random() * 2 * pi() AS a FROM gen_located) l
             CROSS JOIN (SELECT array_agg(code ORDER BY code) AS codes FROM domains) dm) q""",
    "ANALYZE gen_projects",
]

# after the matching (match_shares keyed by gen_projects.i); :first_id
STORE_STATEMENTS = [
    """INSERT INTO projects (id, district_code, code, name, domain_code, category, owner, geom, total_investment,
                            equipment_investment, completed_investment, stage, planned_start, actual_start,
                            actual_end, quantity, unit, length_km, area_km2, primary_town_code, created_by)
       SELECT %(first_id)s + g.i, g.district_code,
              format('2025-%%s-%%s-97-%%s%%s', g.district_code, lpad((10 + g.i / 100000)::text, 2, '0'),
                     lpad((g.i %% 100000)::text, 5, '0'), g.i %% 10),
              '设备更新项目' || g.i, g.domain_code,
              CASE WHEN g.kind = 'line' THEN (ARRAY['燃气管网','供热管网','供水设施'])[1 + g.i %% 3] END,
              '测试企业' || (g.i %% 997) || '有限公司', g.geom, g.total, round(g.total * 0.6, 2),
              CASE g.stage WHEN 'completed' THEN g.total WHEN 'construction' THEN round(g.total * 0.45, 2) END,
              g.stage, DATE '2024-03-01', g.actual_start,
              CASE WHEN g.stage = 'completed' THEN g.actual_start + (g.i %% 300)::int END,
              CASE WHEN g.domain_code IN ('medical', 'agriculture') AND g.i %% 7 <> 0 THEN 1 + g.i %% 20 END,
              CASE WHEN g.domain_code IN ('medical', 'agriculture')
                   THEN (ARRAY['台', '套', '台（套）', '米', NULL])[1 + g.i %% 5] END,
              CASE WHEN g.kind = 'line' THEN ST_Length(g.geom::geography) / 1000 END,
              CASE WHEN g.kind = 'polygon' THEN ST_Area(g.geom::geography) / 1e6 END,
              best.town_code, 'bench-province'
       FROM gen_projects g
       LEFT JOIN match_shares best ON best.key = g.i AND best.is_primary
       ORDER BY g.district_code, g.i""",
    """INSERT INTO project_towns (project_id, town_code, district_code, town_id, share, length_km, area_km2)
       SELECT %(first_id)s + key, town_code, district_code, town_id, share, length_km, area_km2
       FROM match_shares ORDER BY district_code, key""",
    "SELECT setval('projects_id_seq', (SELECT max(id) FROM projects))",
    # six months of progress reports: a third of the started projects each month, growing figures
    """INSERT INTO progress_reports (project_id, district_code, period, reported_on, completed_investment, created_by)
       SELECT p.id, p.district_code, m.period, date (m.period || '-25'), round(p.total_investment * m.k / 10.0),
              'bench-province'
       FROM projects p
       CROSS JOIN (VALUES ('2024-12', 1), ('2025-01', 2), ('2025-02', 3), ('2025-03', 4), ('2025-04', 5),
                          ('2025-05', 6), ('2025-06', 7)) AS m(period, k)
       WHERE p.stage IN ('construction', 'completed') AND (p.id + m.k) %% 3 = 0
         AND p.created_by = 'bench-province'""",
]

MATCH_INPUT = text("INSERT INTO match_input (key, district_code, geom) SELECT i, district_code, geom FROM gen_projects")


def generate_projects(url: str, n: int) -> int:
    """``n`` projects over the loaded province's districts, matched with the registry's rule."""
    from geo.matching import compute_shares
    from registry import db as registry_db
    engine = registry_db.make_engine(url)
    try:
        with registry_db.session_scope(engine) as session:
            session.execute(text("SET LOCAL work_mem = '256MB'"))
            first_id = session.execute(text("SELECT coalesce(max(id), 0) FROM projects")).scalar_one()
            raw = session.connection().exec_driver_sql
            for statement in PROJECT_STATEMENTS:
                _timed(lambda: raw(statement, {"n": n}), statement)
            _timed(lambda: compute_shares(session, MATCH_INPUT, {}), "compute_shares (the registry's matching)")
            for statement in STORE_STATEMENTS:
                _timed(lambda: raw(statement, {"first_id": first_id}), statement)
            added = session.execute(text("SELECT count(*) FROM projects WHERE id > :f"), {"f": first_id}).scalar_one()
            session.commit()
    finally:
        engine.dispose()
    return added


def _timed(call, label: str) -> None:
    started = time.perf_counter()
    call()
    common.log.info("%6.1f s  %s", time.perf_counter() - started, " ".join(label.split())[:80])


# --- targets and accounts ------------------------------------------------------------------

TARGETS = """\
      - {{id: {d}-count, text: 工业项目数, metric: count, filter: {{domain: 工业, min_total_investment: 500}},
         threshold: 1000, deadline: 2027-12-31}}
      - {{id: {d}-yearly, text: 每年项目数, metric: count, window: per_year, threshold: 500, deadline: 2027-12-31}}
      - {{id: {d}-total, text: 总投资, metric: sum_total_investment, threshold: 1000000, deadline: 2027-12-31}}
      - {{id: {d}-equipment, text: 设备投资, metric: sum_equipment_investment, filter: {{domain: [工业, 医疗卫生]}},
         threshold: 100000, deadline: 2027-12-31}}
      - {{id: {d}-completed, text: 已完成投资, metric: sum_completed_investment, filter: {{stages: [竣工投产]}},
         threshold: 100000, deadline: 2026-12-31}}
      - {{id: {d}-machines, text: 更新设备台（套）, metric: sum_quantity, filter: {{domain: [医疗卫生, 农业]}},
         unit: 台（套）, threshold: 1000, deadline: 2027-12-31}}
      - {{id: {d}-gas, text: 更新管网公里, metric: sum_length_km, filter: {{domain: 市政基础设施}}, unit: 公里,
         threshold: 100, deadline: 2027-12-31}}
      - {{id: {d}-growth, text: 设备投资增长, metric: growth_vs_baseline, baseline: 100000, threshold: 0.2,
         deadline: 2027-12-31}}
      - {{id: {d}-reported, text: 公交电动化, metric: reported, threshold: 1.0, deadline: 2025-12-31}}
"""
TARGETS_PER_DISTRICT = TARGETS.count("id:")


def targets_file(codes: list[str], path: Path) -> Path:
    """Nine targets for every district (every metric), as a plan file for ``eqreg targets load``."""
    parts = ["jurisdictions:\n"]
    for code in codes:
        parts.append(f'  - code: "{code}"\n    name: 示范{code[2:4]}市{int(code[4:])}区\n    targets:\n')
        parts.append(TARGETS.format(d=code))
    path.write_text("".join(parts), encoding="utf-8")
    return path


def add_accounts(url: str, first_district: str) -> None:
    common.eqreg(url, "users", "add", PROVINCE_USER, "--role", "viewer", "--province", PROVINCE, "--password-stdin",
                 stdin=PASSWORD + "\n")
    common.eqreg(url, "users", "add", BUREAU_USER, "--role", "bureau", "--district", first_district,
                 "--password-stdin", stdin=PASSWORD + "\n")


# --- the whole build -----------------------------------------------------------------------

def build(url: str, *, districts: int, projects: int, edge_points: int = 60) -> dict:
    """Drop and re-create ``url`` and build the province into it; returns what it holds."""
    started = time.perf_counter()
    common.WORKDIR.mkdir(parents=True, exist_ok=True)
    codes = district_codes(districts)
    common.fresh_database(url, towns=False)
    towns = boundary_file(codes, edge_points, common.WORKDIR / f"province-{districts}-towns.geojson")
    _timed(lambda: common.eqreg(url, "boundaries", "load", str(towns), "--level", "town"),
           f"eqreg boundaries load: {len(codes)} districts, {len(codes) * TOWN_COLUMNS * TOWN_ROWS} towns")
    added = generate_projects(url, projects)
    _timed(lambda: common.psql(url, "-c", "VACUUM ANALYZE"), "VACUUM ANALYZE")
    plan = targets_file(codes, common.WORKDIR / f"province-{districts}-targets.yaml")
    _timed(lambda: common.eqreg(url, "targets", "load", str(plan)), f"eqreg targets load: {len(codes)} districts")
    add_accounts(url, codes[0])
    held = {"districts": len(codes), "cities": len({c[:4] for c in codes}), "projects": added,
            "towns": int(common.scalar(url, "SELECT count(*) FROM towns WHERE valid_to IS NULL")),
            "project_towns": int(common.scalar(url, "SELECT count(*) FROM project_towns")),
            "progress_reports": int(common.scalar(url, "SELECT count(*) FROM progress_reports")),
            "targets": int(common.scalar(url, "SELECT count(*) FROM targets")),
            "seconds": round(time.perf_counter() - started, 1)}
    common.log.info("province built: %s", held)
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="scratch database (eqreg_bench*), dropped and re-created")
    parser.add_argument("--districts", type=int, default=136)
    parser.add_argument("--projects", type=int, default=1_000_000)
    parser.add_argument("--edge-vertices", type=int, default=60, help="points per town edge (default 60)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['districts']} districts, {QUICK['projects']} projects")
    args = parser.parse_args()
    common.setup_logging()
    size = QUICK if args.quick else {"districts": args.districts, "projects": args.projects}
    print(json.dumps(build(args.database_url, edge_points=args.edge_vertices, **size), ensure_ascii=False))


if __name__ == "__main__":
    main()
