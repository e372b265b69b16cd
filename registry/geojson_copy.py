"""The whole registry as GeoJSON through ``COPY … TO STDOUT`` with psycopg alone (DESIGN §9
"Performance": the export at or under ogr2ogr's time, start-up included).

``eqreg projects export --format geojson`` without filters runs here: no SQLAlchemy, no ORM, so the
command starts in a fraction of the time, and COPY streams rows with less protocol work than a
cursor. The statement is ``registry.project_features.feature_query`` for the system scope, kept as text in
``registry/sql/features_all.sql`` (a test holds it equal to the query); the bytes written are those of
``registry.exporting.iter_geojson``. Memory stays flat: rows are written in batches of ``BATCH``.
"""
from __future__ import annotations

from importlib import resources
from typing import IO, Callable

import psycopg

BATCH = 2000
HEADER = b'{"type":"FeatureCollection","features":[\n'
FOOTER = b"\n]}\n"


def _statement() -> str:
    return resources.files("registry").joinpath("sql", "features_all.sql").read_text(encoding="utf-8").strip()


def write_all(url: str, out: IO[bytes], progress: Callable[[int], None] | None = None) -> int:
    """Write every live project as a FeatureCollection to ``out``; return how many.

    COPY's text format escapes a backslash as two and ends each row with a newline; the
    Features hold no raw control characters (PostGIS and ``json_build_object`` escape them), so
    undoing the backslashes and turning row ends into ``,\\n`` gives the Features joined as
    ``iter_geojson`` joins them.
    """
    written = 0
    with psycopg.connect(url, options="-c client_encoding=UTF8") as conn, conn.cursor() as cur:
        out.write(HEADER)
        separator = b""
        with cur.copy(f"COPY ({_statement()}) TO STDOUT") as copy:
            rows: list[bytes] = []
            for row in copy:
                rows.append(row)
                if len(rows) == BATCH:
                    out.write(separator + _joined(rows))
                    separator = b",\n"
                    written += len(rows)
                    if progress:
                        progress(len(rows))
                    rows = []
            if rows:
                out.write(separator + _joined(rows))
                written += len(rows)
                if progress:
                    progress(len(rows))
        out.write(FOOTER)
    return written


def _joined(rows: list) -> bytes:
    return b"".join(rows)[:-1].replace(b"\\\\", b"\\").replace(b"\n", b",\n")
