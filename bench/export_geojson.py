"""Benchmark: GeoJSON export of N projects (DESIGN §7, budget ≤ 1.5× ogr2ogr, goal 1.0×;
memory flat).

Ours: ``eqreg projects export --format geojson -o FILE`` (PostGIS builds each Feature, Python
streams them from a server-side cursor). Reference: ``ogr2ogr -f GeoJSON`` from the same table
with roughly the same columns (the API contract's properties, the town shares as JSON text and
the other template fields), 7 decimals like ours. Both are run at N and at --small projects to
show that our peak RSS does not grow with N; both outputs must hold the same number of features.

    .venv/bin/python bench/export_geojson.py --n 100000 --small 10000
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402

REFERENCE_SQL = """
SELECT p.id, p.code, p.name, p.domain_code AS domain, p.category, p.stage, p.total_investment,
       p.equipment_investment, p.completed_investment, p.primary_town_code AS town_code,
       t.name AS town_name,
       (SELECT json_agg(json_build_object('code', pt.town_code, 'name', st.name,
                                          'share', round(pt.share::numeric, 6)) ORDER BY pt.share DESC)
        FROM project_towns pt JOIN towns st ON st.id = pt.town_id
        WHERE pt.project_id = p.id)::text AS towns,
       d.label_zh AS domain_label, p.district_code, p.owner, p.credit_code, p.declared_town,
       p.address, array_to_string(p.funding, '；') AS funding, p.planned_start, p.planned_end,
       p.actual_start, p.actual_end, p.lead_unit,
       array_to_string(p.responsible_units, '；') AS responsible_units, p.is_key, p.quantity,
       p.unit, p.remarks, p.length_km, p.area_km2, p.source_crs, p.version, p.updated_at, p.geom
FROM projects p
LEFT JOIN towns t ON t.code = p.primary_town_code AND t.valid_to IS NULL
LEFT JOIN domains d ON d.code = p.domain_code
WHERE p.deleted_at IS NULL
ORDER BY p.id
"""


def ogr_connection(url: str) -> str:
    """``PG:`` datasource string for GDAL from a libpq URL."""
    parts = urlsplit(url)
    fields = {"host": parts.hostname, "port": parts.port, "user": parts.username,
              "password": parts.password, "dbname": parts.path.lstrip("/")}
    return "PG:" + " ".join(f"{k}={v}" for k, v in fields.items() if v)


def feature_count(path: Path) -> int:
    with path.open(encoding="utf-8") as source:
        return len(json.load(source)["features"])


def keep_first(url: str, count: int) -> None:
    """Delete every project after the first ``count`` (by id); shares go with them (cascade)."""
    common.psql(url, "-c", f"DELETE FROM projects WHERE id > (SELECT id FROM projects ORDER BY id "
                           f"OFFSET {count - 1} LIMIT 1)", "-c", "VACUUM ANALYZE projects, project_towns")


def measure(url: str, size: int, times: int) -> list:
    ours_out = common.WORKDIR / f"export-ours-{size}.geojson"
    reference_out = common.WORKDIR / f"export-ogr2ogr-{size}.geojson"

    def ours() -> common.Run:
        return common.run([common.EQREG, "projects", "export", "--format", "geojson", "-o", str(ours_out)],
                          env=common.env_for(url))

    def reference() -> common.Run:
        reference_out.unlink(missing_ok=True)  # the GeoJSON driver will not overwrite
        return common.run(["ogr2ogr", "-f", "GeoJSON", str(reference_out), ogr_connection(url),
                           "-sql", REFERENCE_SQL, "-nln", "projects", "-lco", "COORDINATE_PRECISION=7"])

    ours_runs, reference_runs = common.alternate(times, ours, reference, (f"eqreg export {size}", f"ogr2ogr {size}"))
    ours_n, reference_n = feature_count(ours_out), feature_count(reference_out)
    if not ours_n == reference_n == size:
        raise SystemExit(f"feature counts differ: ours {ours_n}, ogr2ogr {reference_n}, expected {size}")
    ours_s, reference_s = common.median_seconds(ours_runs), common.median_seconds(reference_runs)
    ratio = ours_s / reference_s
    budget = 1.0 if size >= 100_000 else 1.5  # DESIGN §9: start-up bound below 100k
    verdict = common.verdict(ratio, budget)
    common.record_figure(f"GeoJSON export, {size} projects vs ogr2ogr", ours=ours_s, reference=reference_s,
                         unit="s", rows=size, max_ratio=budget, peak_rss_mb=common.median_rss(ours_runs))
    return [size, ours_s, reference_s, ratio, verdict, common.median_rss(ours_runs),
            common.median_rss(reference_runs), f"{ours_out.stat().st_size / 1e6:.0f} / "
            f"{reference_out.stat().st_size / 1e6:.0f}", ours_n]


def main() -> None:
    parser = common.arguments("GeoJSON export vs ogr2ogr", n=100_000)
    parser.add_argument("--small", type=int, default=10_000, help="second, smaller size for the memory check")
    args = parser.parse_args()
    common.setup_logging()
    url = args.database_url
    common.generated_database(url, args.n)
    rows = [measure(url, args.n, args.repeat)]
    if args.small < args.n:
        keep_first(url, args.small)
        rows.append(measure(url, args.small, args.repeat))
    print(f"GeoJSON export; medians of {args.repeat} (after one warm-up run each)")
    common.print_table(["projects", "eqreg s", "ogr2ogr s", "ratio", "budget (1.0x from 100k, else 1.5x)", "eqreg peak RSS MB",
                        "ogr2ogr peak RSS MB", "MB out (ours / ogr2ogr)", "features (both)"], rows)


if __name__ == "__main__":
    main()
