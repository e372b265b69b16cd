"""Exports written from ``COPY (statement) TO STDOUT`` with psycopg alone (DESIGN §9
"Performance": each format at or near ogr2ogr's time, start-up included).

PostgreSQL formats every cell (``registry.exporting`` builds the statements), so Python only
copies bytes: COPY streams rows with less protocol work than a cursor and keeps the server busy
while Python writes. Each writer takes a psycopg cursor, the statement's SQL and its parameters:

* ``eqreg projects export`` without filters runs ``write_whole_registry``: the stored statements
  for the system scope (``registry/sql/features_all.sql``, ``registry/sql/export_*_all.sql``; tests keep
  them equal to the queries), no SQLAlchemy, no ORM, no pandas — the command starts in a fraction
  of the time;
* every other export runs the compiled query on the session's own connection, inside its
  transaction, so the user's scope and row-level security apply as to any query.

Memory stays flat: rows are written in batches.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import IO, Callable, Iterator

import psycopg

from registry.template import EXPORT_HEADERS

BATCH = 2000
HEADER = b'{"type":"FeatureCollection","features":[\n'
FOOTER = b"\n]}\n"
CSV_BOM = b"\xef\xbb\xbf"  # so Excel detects UTF-8
SHEET_NAME = "项目"
GPKG_LAYER = "projects"
GPKG_BATCH = 10000
Progress = Callable[[int], None]

# format → (package, stored statement of the whole registry for the system scope)
WHOLE_REGISTRY = {"geojson": ("registry", "features_all"), "csv": ("registry", "export_csv_all"),
                  "xlsx": ("registry", "export_xlsx_all"), "gpkg": ("registry", "export_gpkg_all")}


def stored_statement(fmt: str) -> str:
    package, name = WHOLE_REGISTRY[fmt]
    return resources.files(package).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8").strip()


def write_whole_registry(url: str, fmt: str, out: str | Path, progress: Progress | None = None) -> int:
    """Write every live project to the file ``out`` in ``fmt``; return how many."""
    with psycopg.connect(url, options="-c client_encoding=UTF8") as conn, conn.cursor() as cursor:
        if fmt == "gpkg":
            return write_gpkg(cursor, stored_statement(fmt), None, Path(out), progress)
        with open(out, "wb") as stream:
            return WRITERS[fmt](cursor, stored_statement(fmt), None, stream, progress)


def copy_batches(cursor, sql: str, params, *, fmt: str = "text", types=None,
                 batch: int = BATCH) -> Iterator[list]:
    """Lists of up to ``batch`` rows of ``COPY (sql) TO STDOUT``: one buffer per row in the text
    and csv formats (the protocol sends one message per row), tuples of values in the binary
    format with ``types`` (psycopg parses them).

    JIT is off for the rest of the transaction: compiling these wide statements took longer
    than running them (1.5 s of 2.2 s for 20 000 projects).
    """
    cursor.execute("SET LOCAL jit = off")
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT {fmt})", params) as copy:
        if types is not None:
            copy.set_types(types)
        rows: list = []
        for row in (copy.rows() if types is not None else copy):
            rows.append(row)
            if len(rows) == batch:
                yield rows
                rows = []
        if rows:
            yield rows


def write_geojson(cursor, sql: str, params, out: IO[bytes], progress: Progress | None = None) -> int:
    """A FeatureCollection of the Features ``sql`` returns (one text column per row), the bytes of
    ``registry.exporting.iter_geojson``.

    COPY's text format escapes a backslash as two and ends each row with a newline; the
    Features hold no raw control characters (PostGIS and ``json_build_object`` escape them), so
    undoing the backslashes and turning row ends into ``,\\n`` gives the Features joined as
    ``iter_geojson`` joins them.
    """
    written = 0
    out.write(HEADER)
    separator = b""
    for rows in copy_batches(cursor, sql, params):
        out.write(separator + _unescaped(rows)[:-1].replace(b"\n", b",\n"))
        separator = b",\n"
        written += _step(progress, rows)
    out.write(FOOTER)
    return written


def write_csv(cursor, sql: str, params, out: IO[bytes], progress: Progress | None = None) -> int:
    """UTF-8 with BOM (so Excel detects the encoding), the template headers, CRLF rows: the bytes
    Python's ``csv`` module writes for the same cells (PostgreSQL quotes exactly as it does)."""
    written = 0
    out.write(CSV_BOM + ",".join(EXPORT_HEADERS).encode("utf-8") + b"\r\n")
    for rows in copy_batches(cursor, sql, params, fmt="csv"):
        out.write(b"".join(row[:-1].tobytes() + b"\r\n" for row in rows))  # "\n" ends each COPY row
        written += _step(progress, rows)
    return written


def write_xlsx(cursor, sql: str, params, out: IO[bytes], progress: Progress | None = None) -> int:
    """A workbook of one sheet 项目: the template headers, then the ``<row>`` elements ``sql``
    returns (one text column per row, with no raw control characters)."""
    from registry.xlsx_package import write_workbook
    written = 0

    def rows() -> Iterator[bytes]:
        nonlocal written
        for batch in copy_batches(cursor, sql, params):
            yield _unescaped(batch)
            written += _step(progress, batch)

    write_workbook(out, SHEET_NAME, EXPORT_HEADERS, rows())
    return written


def write_gpkg(cursor, sql: str, params, path: Path, progress: Progress | None = None, *,
               chunk_rows: int | None = None) -> int:
    """One GeoPackage layer ``projects`` of the rows of ``sql`` (fields as typed by the statement,
    the geometry blob in the column ``geom``, EPSG:4326), written by ``registry.gpkg_layer``."""
    from registry.gpkg_layer import write_layer
    cursor.execute(f"SELECT * FROM ({sql}) AS export LIMIT 0", params)  # the names and types
    names = [column.name for column in cursor.description]
    types = [column.type_code for column in cursor.description]
    written = 0

    def chunks() -> Iterator[list[tuple]]:
        nonlocal written
        for rows in copy_batches(cursor, sql, params, fmt="binary", types=types,
                                 batch=chunk_rows or GPKG_BATCH):
            yield rows
            written += _step(progress, rows)

    write_layer(path, GPKG_LAYER, names, types, chunks())
    return written


WRITERS = {"geojson": write_geojson, "csv": write_csv, "xlsx": write_xlsx}


def _unescaped(rows: list) -> bytes:
    """Rows of one text column in COPY's text format, joined, backslashes undone (the only escape
    left when the text holds no control characters)."""
    return b"".join(rows).replace(b"\\\\", b"\\")


def _step(progress: Progress | None, rows: list) -> int:
    if progress:
        progress(len(rows))
    return len(rows)
