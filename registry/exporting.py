"""Export projects as GeoJSON, CSV, XLSX or GeoPackage (DESIGN §4–5), streamed from PostgreSQL.

PostgreSQL formats every cell; each format's statement runs as ``COPY`` and
``registry.copy_export`` writes the rows as they come, so memory stays flat however many projects
there are (``iter_geojson``, for the API's streamed response, reads a server-side cursor).
Access goes through ``registry.scope`` and filters through ``registry.filters``: the CLI passes
``Scope.system()``, the API the user's scope.
CSV and XLSX use the import template's columns, so an export re-imports unchanged.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator

from sqlalchemy import BigInteger, ColumnElement, Float, Select, Text, case, cast, func, literal_column, null, select
from sqlalchemy.orm import Session, aliased

from registry import copy_export
from registry.cells import csv_cell, csv_text_sql, xml_text_sql  # noqa: F401 (csv_cell: public name)
from registry.errors import InvalidInput
from registry.filters import ProjectFilters
from registry.gpkg_layer import BLOB_HEADER as GPKG_BLOB_HEADER
from registry.gpkg_layer import POINT_BLOB_HEADER as GPKG_POINT_BLOB_HEADER
from registry.models import Domain, Project, Town
from registry.project_features import (feature_query, from_visible_projects, funding_labels,
                                       property_pairs, property_query, visible_projects)
from registry.scope import Scope
from registry.template import COLUMNS
from registry.vocab import DOMAINS, STAGES
from registry.xlsx_package import column_letter

FORMATS = ("geojson", "csv", "xlsx", "gpkg")
CHUNK_ROWS = 2000
GPKG_CHUNK_ROWS = copy_export.GPKG_BATCH  # rows per SQLite insert batch (tests make it smaller)

Progress = Callable[[int], None]  # called with the number of projects just written
_UNSAFE_IN_NAMES = str.maketrans({c: "-" for c in '\\/:*?"<>|\r\n\t'})


def export_filename(session: Session, filters: ProjectFilters, fmt: str, *, today: dt.date | None = None,
                    place: str | None = None) -> str:
    """A file name that says what the export holds: ``项目_陶庄镇_市政基础设施_在建_2025年_2026-12-01.geojson``
    (only the filters given; the date of the export last); ``place`` names the level an export is
    limited to first: ``项目_山东省-37_2026-12-01.geojson`` (``registry.rollup.place_title``)."""
    parts = ["项目"] + ([place] if place else [])
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


def ascii_export_filename(fmt: str, *, level: str | None = None, code: str | None = None,
                          today: dt.date | None = None) -> str:
    """The ASCII stand-in of ``export_filename`` for clients that cannot read ``filename*``:
    ``projects_2026-12-01.csv``, or for a level ``projects_province-37_2026-12-01.csv``."""
    where = f"_{level}-{code}" if level and code else ""
    return f"projects{where}_{(today or dt.date.today()).isoformat()}.{fmt}"


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
    The statement runs as ``COPY`` on the session's own connection and transaction (so scope and
    row-level security apply), written by ``registry.copy_export``. A GeoPackage needs a real
    file, so for a stream it is built in a temporary file and copied.
    """
    fmt = (fmt or "").lower()
    if fmt not in FORMATS:
        raise InvalidInput(f"不支持的导出格式：{fmt}（可用 {'、'.join(FORMATS)}）", {"format": fmt})
    counted = _Counter(progress)
    sql, params = _compiled(session, EXPORT_QUERIES[fmt](scope, filters))
    with session.connection().connection.driver_connection.cursor() as cursor:
        if fmt != "gpkg":
            with _binary(out) as stream_out:
                copy_export.WRITERS[fmt](cursor, sql, params, stream_out, counted)
        elif isinstance(out, (str, os.PathLike)):
            copy_export.write_gpkg(cursor, sql, params, Path(out), counted, chunk_rows=GPKG_CHUNK_ROWS)
        else:
            with tempfile.TemporaryDirectory(prefix="eqreg-export-") as tmp:
                path = Path(tmp) / "projects.gpkg"
                copy_export.write_gpkg(cursor, sql, params, path, counted, chunk_rows=GPKG_CHUNK_ROWS)
                with path.open("rb") as source:
                    shutil.copyfileobj(source, out)
    return counted.total


def _compiled(session: Session, statement: Select) -> tuple[str, dict]:
    """``statement`` as SQL text with ``%(name)s`` parameters (psycopg merges them client-side
    for COPY, which takes no server-side parameters)."""
    compiled = statement.compile(dialect=session.connection().dialect,
                                 compile_kwargs={"render_postcompile": True})
    return str(compiled), compiled.params


# Template key → property of ``registry.project_features.property_pairs`` where the names differ.
_TEMPLATE_SOURCE = {"domain": "domain_label", "stage": "stage_label", "town": "declared_town"}
# Geometry goes in 几何WKT (full precision, EPSG:4326) so points, lines and polygons all fit.
_TEMPLATE_CONSTANT = {"crs": "WGS84", "lng": None, "lat": None}
_NUMERIC_PARSERS = ("money", "number")


def template_cells(primary_town) -> list[tuple[str, ColumnElement, bool]]:
    """``(key, expression, is_number)`` per exported column: every import-template column
    (``registry.template.COLUMNS``), then the funding codes (资金来源代码, ignored on import).

    PostgreSQL formats the cells so Python only copies them: dates ``YYYY-MM-DD``, flags 是/否,
    numbers without trailing zeros (still numeric), vocabulary as Chinese labels, lists joined
    with ``；`` as the importer splits them. Everything but the numbers is text.
    """
    props = dict(property_pairs(primary_town, Domain))
    cells = []
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
        cells.append((key, expr, column.parser in _NUMERIC_PARSERS))
    # after the template's columns, so the file still imports as it is: the funding codes
    cells.append(("funding_codes", func.nullif(func.array_to_string(Project.funding, "；"), ""), False))
    return cells


def template_query(scope: Scope, filters: ProjectFilters) -> Select:
    """One row per visible project, one column per exported column (``template_cells``)."""
    primary_town = aliased(Town)
    columns = [expr.label(key) for key, expr, _number in template_cells(primary_town)]
    return from_visible_projects(select(*columns), primary_town, scope, filters)


def csv_query(scope: Scope, filters: ProjectFilters) -> Select:
    """``template_query`` for ``COPY … (FORMAT csv)``: text cells formula-safe as
    ``registry.cells.csv_cell`` makes them."""
    primary_town = aliased(Town)
    columns = [(expr if number else csv_text_sql(expr)).label(key)
               for key, expr, number in template_cells(primary_town)]
    return from_visible_projects(select(*columns), primary_town, scope, filters)


def sheet_row_query(scope: Scope, filters: ProjectFilters) -> Select:
    """One ``<row>`` element of the XLSX sheet per visible project (``registry.xlsx_package``),
    numbered from 2 (row 1 holds the headers): text as inline strings (never a formula), numbers
    as numbers, empty cells left out."""
    primary_town = aliased(Town)
    cells = template_cells(primary_town)
    number = cast(func.row_number().over(order_by=Project.id) + 1, Text)
    # the cells in a subquery, so that each row's number is turned into text once, not per cell
    inner = from_visible_projects(
        select(Project.id.label("project_id"), number.label("row_number"),
               *(expr.label(f"cell_{index}") for index, (_key, expr, _number) in enumerate(cells))),
        primary_town, scope, filters).subquery("cells")
    row = inner.c.row_number
    parts = [literal_column("""'<row r="'"""), row, literal_column("""'">'""")]
    for index, (_key, _expr, is_number) in enumerate(cells):
        value = inner.c[f"cell_{index}"]
        if is_number:
            value, opening, end = cast(value, Text), '"><v>', "</v></c>"
        else:
            value = xml_text_sql(func.nullif(value, ""))
            opening, end = '" t="inlineStr"><is><t xml:space="preserve">', "</t></is></c>"
        cell = (literal_column(f"""'<c r="{column_letter(index)}'""").op("||")(row)
                .op("||")(literal_column(f"'{opening}'")).op("||")(value).op("||")(literal_column(f"'{end}'")))
        parts.append(func.coalesce(cell, literal_column("''")))  # NULL value: no cell
    parts.append(literal_column("'</row>'"))
    return select(func.concat(*parts).label("row")).order_by(inner.c.project_id)


def gpkg_query(scope: Scope, filters: ProjectFilters) -> Select:
    """The GeoJSON properties (``registry.project_features.property_query``) typed for a GeoPackage layer
    (``registry.gpkg_layer``): money and measures real numbers, ids whole numbers, dates and times
    ISO text, the town shares JSON text, lists joined with ``；``, everything else text; then
    ``geom``, the GeoPackage geometry blob (header with SRS 4326 and the envelope, then WKB)."""
    statement = property_query(scope, filters)
    columns = []
    for column in statement.selected_columns:
        name = column.name
        if name == "wkb":
            wkb = func.ST_AsBinary(Project.geom, "NDR")
            blob = literal_column(f"'\\x{GPKG_BLOB_HEADER.hex()}'::bytea")
            for edge in (func.ST_XMin, func.ST_XMax, func.ST_YMin, func.ST_YMax):
                blob = blob.op("||")(func.float8send(edge(Project.geom)))
            point = literal_column(f"'\\x{GPKG_POINT_BLOB_HEADER.hex()}'::bytea").op("||")(wkb)
            columns.append(case((func.GeometryType(Project.geom) == literal_column("'POINT'"), point),
                                else_=blob.op("||")(wkb)).label("geom"))
        elif name in _REAL_FIELDS:
            columns.append(cast(column, Float).label(name))
        elif name in _WHOLE_FIELDS:
            columns.append(cast(column, BigInteger).label(name))
        elif name == "is_key":
            columns.append(column)
        elif name in _DATE_FIELDS:
            columns.append(func.to_char(column, "YYYY-MM-DD").label(name))
        elif name in _TIME_FIELDS:
            columns.append(func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM').label(name))
        else:
            columns.append(cast(column, Text).label(name))
    return statement.with_only_columns(*columns, maintain_column_froms=False)


_REAL_FIELDS = ("total_investment", "equipment_investment", "completed_investment", "quantity",
                "length_km", "area_km2")
_WHOLE_FIELDS = ("id", "version")
_DATE_FIELDS = ("planned_start", "planned_end", "actual_start", "actual_end")
_TIME_FIELDS = ("updated_at",)
EXPORT_QUERIES = {"geojson": feature_query, "csv": csv_query, "xlsx": sheet_row_query, "gpkg": gpkg_query}


def whole_registry_sql(fmt: str) -> str:
    """The export statement of ``fmt`` for the whole registry (system scope, no filters) as plain
    SQL text: ``registry/sql/export_<fmt>_all.sql`` holds it so that ``eqreg projects export``
    without filters runs it with psycopg alone (``registry.copy_export``); ``tests/test_export_fast.py``
    keeps the files equal to this. Regenerate with
    ``python -c "from registry.exporting import write_whole_registry_sql as w; w()"``.
    """
    from sqlalchemy.dialects import postgresql
    statement = EXPORT_QUERIES[fmt](Scope.system(), ProjectFilters())
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def write_whole_registry_sql() -> None:
    """Regenerate the stored statements of ``registry.copy_export.WHOLE_REGISTRY`` in registry/sql."""
    from importlib import resources
    for fmt, (package, name) in copy_export.WHOLE_REGISTRY.items():
        if package == "registry":
            target = resources.files(package).joinpath("sql", f"{name}.sql")
            Path(str(target)).write_text(whole_registry_sql(fmt) + "\n", encoding="utf-8")


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
