"""Benchmark: CSV, XLSX and GeoPackage export of N projects against ogr2ogr (issue 13 item 3).

Ours: ``eqreg projects export --format csv|xlsx|gpkg -o FILE`` (the whole registry: stored
statements run by ``COPY`` with psycopg alone, ``registry.copy_export``; CSV and XLSX in the import
template's columns, every cell formatted by PostgreSQL, XLSX rows as sheet XML; GeoPackage written
with sqlite3 from geometry blobs PostGIS builds). Reference: ``ogr2ogr -f CSV|XLSX|GPKG`` from the
same table with the columns of ``export_geojson.py``'s reference query (CSV with the geometry as
WKT). No budget is stated for these formats; the figure uses the export budget of DESIGN §7
(≤ 1.5× ogr2ogr). Peak RSS shows whether memory stays flat.

    .venv/bin/python bench/export_formats.py --n 100000
    .venv/bin/python bench/export_formats.py --n 100000 --keep --formats gpkg   # same database again
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.export_geojson import REFERENCE_SQL, ogr_connection  # noqa: E402

BUDGET = 1.5
OGR = {"csv": ("CSV", ["-lco", "GEOMETRY=AS_WKT"]), "xlsx": ("XLSX", []), "gpkg": ("GPKG", [])}


def measure(url: str, fmt: str, size: int, times: int) -> list:
    ours_out = common.WORKDIR / f"export-ours-{size}.{fmt}"
    reference_out = common.WORKDIR / f"export-ogr2ogr-{size}.{fmt}"
    driver, options = OGR[fmt]

    def ours() -> common.Run:
        return common.run([common.EQREG, "projects", "export", "--format", fmt, "-o", str(ours_out)],
                          env=common.env_for(url))

    def reference() -> common.Run:
        reference_out.unlink(missing_ok=True)
        return common.run(["ogr2ogr", "-f", driver, str(reference_out), ogr_connection(url),
                           "-sql", REFERENCE_SQL, "-nln", "projects", *options])

    ours_runs, reference_runs = common.alternate(times, ours, reference,
                                                 (f"eqreg {fmt} {size}", f"ogr2ogr {fmt} {size}"))
    ours_s, reference_s = common.median_seconds(ours_runs), common.median_seconds(reference_runs)
    ratio = ours_s / reference_s
    common.record_figure(f"{fmt.upper()} export, {size} projects vs ogr2ogr", ours=ours_s, reference=reference_s,
                         unit="s", rows=size, max_ratio=BUDGET, peak_rss_mb=common.median_rss(ours_runs))
    return [fmt, size, ours_s, reference_s, ratio, common.verdict(ratio, BUDGET), common.median_rss(ours_runs),
            common.median_rss(reference_runs), f"{ours_out.stat().st_size / 1e6:.1f} / "
            f"{reference_out.stat().st_size / 1e6:.1f}"]


def main() -> None:
    parser = common.arguments("CSV / XLSX / GeoPackage export vs ogr2ogr", n=100_000)
    parser.add_argument("--formats", default="csv,xlsx,gpkg", help="comma-separated (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="reuse the scratch database of the last run (same --n)")
    args = parser.parse_args()
    common.setup_logging()
    url = args.database_url
    if not args.keep:
        common.generated_database(url, args.n)
    rows = [measure(url, fmt, args.n, args.repeat) for fmt in args.formats.split(",")]
    print(f"Export by format; medians of {args.repeat} (after one warm-up run each)")
    common.print_table(["format", "projects", "eqreg s", "ogr2ogr s", "ratio", f"budget <= {BUDGET}x",
                        "eqreg peak RSS MB", "ogr2ogr peak RSS MB", "MB out (ours / ogr2ogr)"], rows)


if __name__ == "__main__":
    main()
