"""Export projects as GeoJSON, CSV, XLSX or GeoPackage (DESIGN §4–5), streamed from PostgreSQL.

Every format reads a server-side cursor in chunks of ``CHUNK_ROWS`` and writes as it goes, so
memory stays flat however many projects there are. Access goes through ``registry.scope`` and
filters through ``registry.filters``: the CLI passes ``Scope.system()``, the API the user's scope.
CSV and XLSX use the import template's columns, so an export re-imports unchanged.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator

from sqlalchemy import Select, case, func, literal_column, null, select
from sqlalchemy.orm import Session, aliased

from registry.cells import append_xlsx_row, csv_cell, csv_row  # noqa: F401 (csv_cell: public name)
from registry.errors import InvalidInput
from registry.filters import ProjectFilters
from registry.models import Domain, Project, Town
from registry.project_features import (feature_query, from_visible_projects, funding_labels,
                                       property_pairs, property_query, visible_projects)
from registry.scope import Scope
from registry.template import COLUMNS, FUNDING_CODES_HEADER
from registry.vocab import DOMAINS, STAGES

FORMATS = ("geojson", "csv", "xlsx", "gpkg")
CHUNK_ROWS = 2000
GPKG_LAYER = "projects"
GPKG_CHUNK_ROWS = 10000  # each GeoPackage append costs a dataset open: fewer, larger chunks

Progress = Callable[[int], None]  # called with the number of projects just written
_UNSAFE_IN_NAMES = str.maketrans({c: "-" for c in '\\/:*?"<>|\r\n\t'})


def export_filename(session: Session, filters: ProjectFilters, fmt: str, *, today: dt.date | None = None) -> str:
    """A file name that says what the export holds: ``项目_陶庄镇_市政基础设施_在建_2025年_2026-12-01.geojson``
    (only the filters given; the date of the export last)."""
    parts = ["项目"]
    if filters.town:
        parts.append(session.scalar(select(Town.name).where(Town.code == filters.town, Town.valid_to.is_(None)))
                     or filters.town)
    if filters.domain:
        parts.append(DOMAINS[filters.domain][0] if filters.domain in DOMAINS else filters.domain)
    if filters.stage:
        parts.append(STAGES[filters.stage][0] if filters.stage in STAGES else filters.stage)
    if filters.year:
        parts.append(f"{filters.year}年")
    if filters.q:
        parts.append(f"含“{filters.q[:20]}”")
    if filters.bbox:
        parts.append("地图范围")
    parts.append((today or dt.date.today()).isoformat())
    return "_".join(part.translate(_UNSAFE_IN_NAMES) for part in parts) + f".{fmt}"


def count_projects(session: Session, *, scope: Scope, filters: ProjectFilters) -> int:
    """How many projects an export with this scope and these filters will write."""
    return session.scalar(select(func.count()).select_from(Project)
                          .where(*visible_projects(scope, filters)))


def stream(session: Session, statement, chunk_rows: int | None = None):
    """Partitions (lists of rows) of ``statement`` read from a server-side cursor."""
    result = session.execute(statement.execution_options(stream_results=True,
                                                         yield_per=chunk_rows or CHUNK_ROWS))
    return result.partitions()


def iter_geojson(session: Session, *, scope: Scope, filters: ProjectFilters,
                 progress: Progress | None = None) -> Iterator[str]:
    """Text chunks of a GeoJSON FeatureCollection (EPSG:4326) of the visible, filtered projects.

    Features are assembled by PostGIS (``registry.project_features.feature_query``); each chunk joins up to
    ``CHUNK_ROWS`` of them. The same generator backs ``GET /api/v1/projects.geojson``.
    """
    yield '{"type":"FeatureCollection","features":[\n'
    separator = ""
    for rows in stream(session, feature_query(scope, filters)):
        yield separator + ",\n".join(row[0] for row in rows)
        separator = ",\n"
        if progress:
            progress(len(rows))
    yield "\n]}\n"


def export_projects(session: Session, fmt: str, out: str | os.PathLike | IO[bytes], *,
                    scope: Scope, filters: ProjectFilters, progress: Progress | None = None) -> int:
    """Write the visible, filtered projects to ``out`` (a path or a binary stream).

    ``fmt`` is ``geojson``, ``csv``, ``xlsx`` or ``gpkg``. Returns the number of projects written.
    A GeoPackage needs a real file, so for a stream it is built in a temporary file and copied.
    """
    fmt = (fmt or "").lower()
    if fmt not in FORMATS:
        raise InvalidInput(f"不支持的导出格式：{fmt}（可用 {'、'.join(FORMATS)}）", {"format": fmt})
    counted = _Counter(progress)
    if fmt == "gpkg":
        if isinstance(out, (str, os.PathLike)):
            _write_gpkg(session, Path(out), GPKG_LAYER, scope=scope, filters=filters,
                               progress=counted)
        else:
            with tempfile.TemporaryDirectory(prefix="eqreg-export-") as tmp:
                path = Path(tmp) / "projects.gpkg"
                _write_gpkg(session, path, GPKG_LAYER, scope=scope, filters=filters,
                                   progress=counted)
                with path.open("rb") as source:
                    shutil.copyfileobj(source, out)
        return counted.total
    with _binary(out) as stream_out:
        if fmt == "geojson":
            text_out = io.TextIOWrapper(stream_out, encoding="utf-8", newline="\n")
            for chunk in iter_geojson(session, scope=scope, filters=filters, progress=counted):
                text_out.write(chunk)
            text_out.flush()
            text_out.detach()
        elif fmt == "csv":
            _write_csv(session, stream_out, scope=scope, filters=filters, progress=counted)
        else:
            _write_xlsx(session, stream_out, scope=scope, filters=filters, progress=counted)
    return counted.total


# Template key → property of ``registry.project_features.property_pairs`` where the names differ.
_TEMPLATE_SOURCE = {"domain": "domain_label", "stage": "stage_label", "town": "declared_town"}
# Geometry goes in 几何WKT (full precision, EPSG:4326) so points, lines and polygons all fit.
_TEMPLATE_CONSTANT = {"crs": "WGS84", "lng": None, "lat": None}
_NUMERIC_PARSERS = ("money", "number")


def template_query(scope: Scope, filters: ProjectFilters) -> Select:
    """One row per visible project, one column per import-template column, then the funding
    codes (资金来源代码, ignored on import), ready to write.

    PostgreSQL formats the cells so Python only copies them: dates ``YYYY-MM-DD``, flags 是/否,
    numbers without trailing zeros (still numeric), vocabulary as Chinese labels, lists joined
    with ``；`` as the importer splits them.
    """
    primary_town = aliased(Town)
    props = dict(property_pairs(primary_town, Domain))
    columns = []
    for column in COLUMNS:
        key = column.key
        if key in _TEMPLATE_CONSTANT:
            value = _TEMPLATE_CONSTANT[key]
            expr = null() if value is None else literal_column(f"'{value}'")
        elif key == "wkt":
            expr = func.ST_AsText(Project.geom)
        else:
            expr = props.get(_TEMPLATE_SOURCE.get(key, key), null())
            if column.parser == "date":
                expr = func.to_char(expr, "YYYY-MM-DD")
            elif column.parser == "flag":
                expr = case((expr, literal_column("'是'")), else_=literal_column("'否'"))
            elif column.parser in _NUMERIC_PARSERS:
                expr = func.trim_scale(expr)
            elif key == "funding":
                expr = func.nullif(funding_labels(), "")
            elif key == "responsible_units":
                expr = func.nullif(func.array_to_string(expr, "；"), "")
        columns.append(expr.label(key))
    # after the template's columns, so the file still imports as it is: the funding codes
    columns.append(func.nullif(func.array_to_string(Project.funding, "；"), "").label("funding_codes"))
    return from_visible_projects(select(*columns), primary_town, scope, filters)


def template_rows(session: Session, *, scope: Scope, filters: ProjectFilters,
                  progress: Progress) -> Iterator[list[tuple]]:
    """Chunks of rows in the import template's column order (``registry.template.COLUMNS``)."""
    for rows in stream(session, template_query(scope, filters)):
        yield rows
        progress(len(rows))


def template_headers() -> list[str]:
    return [column.header for column in COLUMNS] + [FUNDING_CODES_HEADER]


def _write_csv(session: Session, out: IO[bytes], *, scope: Scope, filters: ProjectFilters,
               progress: Progress) -> None:
    """UTF-8 with BOM (so Excel detects the encoding), template headers, CRLF rows."""
    text_out = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text_out)
    writer.writerow(template_headers())
    for chunk in template_rows(session, scope=scope, filters=filters, progress=progress):
        writer.writerows(csv_row(row) for row in chunk)
    text_out.flush()
    text_out.detach()


def _write_xlsx(session: Session, out: IO[bytes], *, scope: Scope, filters: ProjectFilters,
                progress: Progress) -> None:
    """A write-only workbook (rows go to disk as they come); text is never stored as a formula."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("项目")
    sheet.append(template_headers())
    for chunk in template_rows(session, scope=scope, filters=filters, progress=progress):
        for row in chunk:
            append_xlsx_row(sheet, row)
    workbook.save(out)


def _write_gpkg(session: Session, path: Path, layer: str, *, scope: Scope, filters: ProjectFilters,
                progress: Progress) -> None:
    """One GeoPackage layer (generic geometry, EPSG:4326) written chunk by chunk with append."""
    # Imported here: geopandas is slow to import and only this format needs it.
    import geopandas
    import pandas
    import shapely

    path.unlink(missing_ok=True)
    first = True
    for rows in stream(session, property_query(scope, filters), GPKG_CHUNK_ROWS):
        frame = pandas.DataFrame([row._mapping for row in rows])
        geometry = shapely.from_wkb(frame.pop("wkb").map(bytes))
        frame = _gpkg_fields(frame)
        _write_layer(geopandas.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326"), path, layer,
                     append=not first)
        first = False
        progress(len(rows))
    if first:  # nothing matched: still deliver a valid, empty layer with the same fields
        names = [c.name for c in property_query(scope, filters).selected_columns if c.name != "wkb"]
        frame = _gpkg_fields(pandas.DataFrame({name: pandas.Series([], dtype=object) for name in names}))
        _write_layer(geopandas.GeoDataFrame(frame, geometry=geopandas.GeoSeries([], crs="EPSG:4326")),
                     path, layer, append=False)


def _write_layer(frame, path: Path, layer: str, *, append: bool) -> None:
    import pyogrio
    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", append=append,
                            geometry_type="Unknown", promote_to_multi=False)


_REAL_FIELDS = ("total_investment", "equipment_investment", "completed_investment", "quantity",
                "length_km", "area_km2")
_DATE_FIELDS = ("planned_start", "planned_end", "actual_start", "actual_end", "updated_at")


def _gpkg_fields(frame):
    """Fix field types by name, so every chunk (even one whose values are all empty) agrees:
    money and measures are Real, dates and times ISO text, everything else as it comes."""
    for name in frame.columns:
        if name in _REAL_FIELDS:
            frame[name] = frame[name].map(lambda v: None if v is None else float(v)).astype("float64")
        elif name in _DATE_FIELDS:
            frame[name] = frame[name].map(lambda v: v.isoformat() if v is not None else None)
    return frame


class _Counter:
    """Counts written projects and forwards each step to the caller's progress callback."""

    def __init__(self, progress: Progress | None):
        self.total = 0
        self.progress = progress

    def __call__(self, n: int) -> None:
        self.total += n
        if self.progress:
            self.progress(n)


class _binary:
    """Context manager: open a path for binary writing, or pass a caller's stream through."""

    def __init__(self, out):
        self.out = out
        self.opened = None

    def __enter__(self) -> IO[bytes]:
        if isinstance(self.out, (str, os.PathLike)):
            self.opened = open(self.out, "wb")
            return self.opened
        return self.out

    def __exit__(self, *exc) -> None:
        if self.opened:
            self.opened.close()
