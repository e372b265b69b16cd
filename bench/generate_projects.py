"""Generate N synthetic projects over the loaded towns of a district (for benchmarks).

Points (80 %), pipelines (12 %) and sites (8 %), most of them gathered around a few dozen
"hot spots" like real projects around town seats, the rest spread evenly; every geometry lies
inside the district. Rows go in with one COPY, then ``registry.matching.match_projects`` apportions
them to towns, exactly as an import would. Project codes use project type ``99`` so repeated runs
add projects instead of colliding.

    .venv/bin/python bench/generate_projects.py --database-url postgresql://…/eqreg_bench \\
        --district 370403 --n 100000

From another benchmark: ``generate_projects(url, district_code="370403", n=100_000)``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import shapely
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry.matching import match_projects  # noqa: E402
from registry import db as registry_db  # noqa: E402
from registry.vocab import DOMAINS  # noqa: E402

log = logging.getLogger("bench.generate")
SHARES = {"point": 0.80, "line": 0.12, "polygon": 0.08}
STAGES = ["reserve", "approval", "construction", "completed", "suspended", "cancelled"]
STAGE_WEIGHTS = [0.25, 0.2, 0.3, 0.2, 0.03, 0.02]
HOT_SPOTS = 40
MATCH_BATCH = 2000
METRES_PER_DEGREE = 111_320.0
COLUMNS = ("district_code", "code", "name", "domain_code", "category", "owner", "geom", "total_investment",
           "equipment_investment", "completed_investment", "stage", "planned_start", "actual_start",
           "actual_end", "created_by")


def generate_projects(url: str, *, district_code: str, n: int, seed: int = 1) -> list[int]:
    """Insert ``n`` synthetic projects into ``district_code`` (its towns must be loaded) and match
    them to towns; returns their ids. Geometry is EPSG:4326. Commits."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        district = _district_geometry(conn, district_code)
        offset = conn.execute("SELECT count(*) FROM projects WHERE district_code = %s AND code LIKE %s",
                              (district_code, "____-______-__-99-%")).fetchone()[0]
        first_id = conn.execute("SELECT coalesce(max(id), 0) FROM projects").fetchone()[0]
        rng = np.random.default_rng(seed + offset)
        geometries = _geometries(rng, district, n)
        with conn.cursor() as cursor, cursor.copy(f"COPY projects ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            rows = _rows(rng, district_code, geometries, offset)
            for row in tqdm(rows, total=n, desc="COPY", unit="行", disable=not sys.stderr.isatty()):
                copy.write_row(row)
        conn.execute("""UPDATE projects SET
                          length_km = CASE WHEN ST_Dimension(geom) = 1 THEN ST_Length(geom::geography) / 1000 END,
                          area_km2 = CASE WHEN ST_Dimension(geom) = 2 THEN ST_Area(geom::geography) / 1e6 END
                        WHERE id > %s AND district_code = %s""", (first_id, district_code))
        ids = [r[0] for r in conn.execute("SELECT id FROM projects WHERE id > %s AND district_code = %s",
                                          (first_id, district_code))]
        conn.commit()
    log.info("copied %d projects in %.1f s", len(ids), time.perf_counter() - started)
    engine = registry_db.make_engine(url)
    try:
        with registry_db.session_scope(engine) as session:
            # In batches: match_towns.sql looks up each project's best share in the INSERT's
            # RETURNING rows with a lateral scan, quadratic in the number of projects matched at once.
            for start in tqdm(range(0, len(ids), MATCH_BATCH), desc="匹配镇街", unit="批",
                              disable=not sys.stderr.isatty()):
                match_projects(session, project_ids=ids[start:start + MATCH_BATCH])
                session.commit()
    finally:
        engine.dispose()
    log.info("generated and matched %d projects in %.1f s", len(ids), time.perf_counter() - started)
    return ids


def _district_geometry(conn, district_code: str) -> shapely.Geometry:
    row = conn.execute("SELECT ST_AsBinary(ST_Union(geom)) FROM towns WHERE district_code = %s "
                       "AND valid_to IS NULL", (district_code,)).fetchone()
    if row[0] is None:
        raise SystemExit(f"区县 {district_code} 没有镇街边界：先运行 eqreg boundaries load")
    geometry = shapely.from_wkb(bytes(row[0]))
    shapely.prepare(geometry)
    return geometry


def _points_inside(rng, district, n: int) -> np.ndarray:
    """``n`` (lng, lat) inside the district: 70 % around hot spots, 30 % uniform."""
    west, south, east, north = district.bounds
    spots = []
    while len(spots) < HOT_SPOTS:
        xy = rng.uniform([west, south], [east, north], size=(HOT_SPOTS * 4, 2))
        spots.extend(xy[shapely.contains_xy(district, xy[:, 0], xy[:, 1])].tolist())
    spots = np.array(spots[:HOT_SPOTS])
    out = np.empty((0, 2))
    while len(out) < n:
        want = (n - len(out)) * 2
        clustered = spots[rng.integers(0, HOT_SPOTS, want)] + rng.normal(0, 0.012, (want, 2))
        uniform = rng.uniform([west, south], [east, north], size=(want, 2))
        xy = np.where(rng.random((want, 1)) < 0.7, clustered, uniform)
        out = np.vstack([out, xy[shapely.contains_xy(district, xy[:, 0], xy[:, 1])]])
    return out[:n]


def _geometries(rng, district, n: int) -> list[str]:
    """EWKT of ``n`` geometries, each entirely inside the district."""
    kinds = rng.choice(list(SHARES), size=n, p=list(SHARES.values()))
    out: list[str] = []
    centres = _points_inside(rng, district, n)
    for kind, (x, y) in zip(kinds, centres):
        if kind == "point":
            out.append(f"SRID=4326;POINT({x:.6f} {y:.6f})")
            continue
        for _attempt in range(20):
            shape = _line(rng, x, y) if kind == "line" else _site(rng, x, y)
            if district.contains(shape):
                break
        else:
            shape = shapely.Point(x, y)
        out.append("SRID=4326;" + shapely.to_wkt(shape, rounding_precision=6))
    return out


def _line(rng, x: float, y: float) -> shapely.LineString:
    """A pipeline of 0.3–3 km with two bends, starting at (x, y)."""
    length = rng.uniform(300, 3000) / METRES_PER_DEGREE
    heading = rng.uniform(0, 2 * np.pi)
    points = [(x, y)]
    for leg in range(3):
        heading += rng.normal(0, 0.6) if leg else 0
        x += np.cos(heading) * length / 3 / np.cos(np.radians(y))
        y += np.sin(heading) * length / 3
        points.append((x, y))
    return shapely.LineString(points)


def _site(rng, x: float, y: float) -> shapely.Polygon:
    """A rectangular site of 60–400 m a side centred on (x, y)."""
    half_w, half_h = rng.uniform(30, 200, 2) / METRES_PER_DEGREE
    half_w /= np.cos(np.radians(y))
    return shapely.box(x - half_w, y - half_h, x + half_w, y + half_h)


def _rows(rng, district_code: str, geometries: list[str], offset: int):
    domains = list(DOMAINS)
    today = dt.date(2025, 6, 1)
    for i, geom in enumerate(geometries, start=offset):
        domain = domains[rng.integers(len(domains))]
        categories = DOMAINS[domain][2]
        stage = rng.choice(STAGES, p=STAGE_WEIGHTS)
        total = round(float(rng.lognormal(6.0, 1.2)), 2)  # median ~400 万元
        started = today - dt.timedelta(days=int(rng.integers(60, 900)))
        ended = started + dt.timedelta(days=int(rng.integers(30, 400))) if stage == "completed" else None
        completed = total if stage == "completed" else (
            round(total * float(rng.uniform(0, 0.9)), 2) if stage == "construction" else None)
        code = f"2025-{district_code}-{10 + i // 100000:02d}-99-{i % 100000:05d}{i % 10}"
        yield (district_code, code, f"{DOMAINS[domain][0]}设备更新项目{i + 1}", domain,
               categories[rng.integers(len(categories))], f"测试企业{i % 997}有限公司", geom, total,
               round(total * 0.6, 2), completed, stage, started - dt.timedelta(days=30),
               started if stage in ("construction", "completed") else None, ended, "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--district", required=True, help="6-digit district code whose towns are loaded")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    generate_projects(args.database_url, district_code=args.district, n=args.n, seed=args.seed)


if __name__ == "__main__":
    main()
