"""The import's staging (``registry.importing``): validated rows go chunk by chunk into the temp
table ``import_staging`` on a worker thread, which also rejects rows outside the district, matches
the rows of new codes to towns, makes their audit snapshots and — when the import holds the
new-codes lock — writes them (projects, town shares, audit), all while the next chunk is checked.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter

import shapely
from psycopg import sql as psycopg_sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import many_to_wgs84
from geo.matching import add_shares, discard_added_shares
from registry import fields, sqlfiles
from registry.import_rows import build_points

log = logging.getLogger(__name__)

# The staging table's columns (registry/sql/import/01_staging.sql) and the type COPY sends each
# as (text format: geometry travels as hex EWKB text): the declared imported fields between the
# import's own columns.
_STAGED = {"row": "int4", **{name: fields.BY_NAME[name].copy_type for name in fields.IMPORTED},
           "geom_column": "text", "stage_reason": "text", "expected_version": "int4", "restore": "bool"}
STAGING_COLUMNS = tuple(_STAGED)
_STAGING_TYPES = tuple(_STAGED.values())
# text[] columns travel as array literals built by _array_literal (psycopg's list dumper costs
# ~4 µs per list, most of the COPY)
_ARRAY_COLUMNS = tuple(name for name in fields.IMPORTED if fields.BY_NAME[name].is_array)


@dataclass(frozen=True)
class NewCodeWrite:
    """What the worker writes new codes with (``import/01_write_new.sql``)."""
    batch_id: int
    actor: str
    filename: str


@dataclass
class StagedChunks:
    """What the worker found: rows outside the district (row, geom_column, kind), lines and
    polygons partly outside it (row, geom_column, outside_km, outside_km2), rows of new codes
    someone registered since they were validated (row, code), new codes inserted."""
    outside: list[tuple[int, str, str]] = field(default_factory=list)
    partly_outside: list[tuple[int, str, float | None, float | None]] = field(default_factory=list)
    overtaken: list[tuple[int, str]] = field(default_factory=list)
    inserted: int = 0


def create_staging(session: Session) -> None:
    """The empty staging tables, in the session's own transaction."""
    # the planner's cost estimates for the geodesic SQL trigger JIT compilation, which costs more
    # than it saves on these single-pass statements
    session.execute(text("SET LOCAL jit = off"))
    # the upsert sorts the staged rows by code and the audit sorts 100 000 snapshots by id: with
    # the default 4 MB each spilled to disk (~1 s apiece at 100 000 rows)
    session.execute(text("SET LOCAL work_mem = '128MB'"))
    session.execute(text("DROP TABLE IF EXISTS pg_temp.import_staging, pg_temp.import_new_snapshot, "
                         "pg_temp.import_chunk_written"))
    session.execute(sqlfiles.load("import/01_staging"))
    session.execute(_NEW_SNAPSHOT_TABLE)
    session.execute(_CHUNK_WRITTEN_TABLE)
    discard_added_shares(session)


def analyze_staging(session: Session) -> None:
    # a fresh temp table has no statistics: without them the planner guessed ~90 rows and joined
    # the staged rows with projects in nested loops (quadratic on the web role, DESIGN §9)
    session.execute(text("ANALYZE import_staging (row, code, expected_version)"))
    session.execute(text("ANALYZE import_new_snapshot (row)"))


class BackgroundStaging:
    """Stage each validated chunk on a worker thread while the next chunk is validated.

    The worker builds the chunk's points, converts it to WGS84, COPYs it into ``import_staging``,
    removes its rows outside the district (``import/02_reject_outside.sql``), finds those partly
    outside (``03_partly_outside.sql``), matches the rows of
    new codes to towns (``geo.matching.add_shares``), makes their audit snapshots
    (``import/01_new_snapshots.sql``) and, given ``write``, inserts them with their town shares
    and audit entries (``import/01_write_new.sql``): on two cores the server's share of that work
    overlaps the Python checks instead of following them. One chunk is in flight at a time
    (memory stays bounded); the worker uses the session's own psycopg connection, whose lock
    keeps its statements and the validator's look-ups apart, all in the one transaction. Leaving
    the block waits for the worker and raises what it raised; ``found`` holds what it found.
    """

    def __init__(self, session: Session, district: str, write: NewCodeWrite | None):
        self._connection = session.connection().connection.driver_connection
        self._literals = {"district_code": psycopg_sql.Literal(district)}
        if write is not None:
            self._literals.update(batch_id=psycopg_sql.Literal(write.batch_id),
                                  actor=psycopg_sql.Literal(write.actor),
                                  filename=psycopg_sql.Literal(write.filename))
        self._write = write is not None
        self.found = StagedChunks()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-staging")
        self._pending: Future | None = None
        self._waited = 0.0  # for ``eqreg -v``: how long the checks waited for the worker

    def __enter__(self) -> "BackgroundStaging":
        return self

    def __call__(self, valid: list[dict]) -> None:
        self._wait()
        if valid:
            self._pending = self._worker.submit(self._stage, valid)

    def __exit__(self, kind, error, traceback) -> None:
        # a failed worker statement aborts the transaction, so the validator's next look-up fails
        # too: the worker's error is the one to report
        try:
            self._wait()
        finally:
            self._worker.shutdown()
            log.debug("import staging: the checks waited %.2f s for the worker", self._waited)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            started = time.perf_counter()
            pending.result()
            self._waited += time.perf_counter() - started

    def _stage(self, valid: list[dict]) -> None:
        connection = self._connection
        _copy(connection, valid)
        chunk = {**self._literals, "first": psycopg_sql.Literal(valid[0]["row"]),
                 "last": psycopg_sql.Literal(valid[-1]["row"])}
        self.found.outside.extend(connection.execute(_statement("02_reject_outside").format(**chunk)).fetchall())
        self.found.partly_outside.extend(
            connection.execute(_statement("03_partly_outside").format(**chunk)).fetchall())
        add_shares(connection, _NEW_CODES_TO_MATCH.format(**chunk))
        # the audit snapshots of the chunk's new codes, from its staged rows and shares just made
        connection.execute(_statement("01_new_snapshots").format(**chunk))
        if self._write and any(values["expected_version"] is None for values in valid):  # new codes
            cursor = connection.execute(_statement("01_write_new").format(**chunk))
            while cursor.nextset():
                pass
            inserted, rows, codes = cursor.fetchone()
            self.found.inserted += inserted
            if rows:
                self.found.overtaken.extend(zip(rows, codes))
                connection.execute("DELETE FROM import_staging WHERE row = ANY(%s)", [rows])


# the staged rows of one chunk that are new codes: matched as they are staged (the rest once every
# row is staged: match_input_staged.sql)
_NEW_CODES_TO_MATCH = psycopg_sql.SQL(
    "INSERT INTO match_input (key, district_code, geom) "
    "SELECT s.row, {district_code}, ST_SetSRID(s.geom, 4326) FROM import_staging s "
    "WHERE s.row BETWEEN {first} AND {last} AND s.expected_version IS NULL")


# the new codes' audit snapshots, one row each (import/01_new_snapshots.sql, 11_audit.sql)
_NEW_SNAPSHOT_TABLE = text("CREATE TEMP TABLE import_new_snapshot (row integer PRIMARY KEY, snap jsonb NOT NULL) "
                           "ON COMMIT DROP")
# one chunk's inserted new codes (import/01_write_new.sql)
_CHUNK_WRITTEN_TABLE = text("CREATE TEMP TABLE import_chunk_written (row integer PRIMARY KEY, id bigint NOT NULL) "
                            "ON COMMIT DROP")


@cache
def _statement(name: str) -> psycopg_sql.SQL:
    """``registry/sql/import/<name>.sql`` for ``psycopg.sql`` composition (``{first}`` …)."""
    return psycopg_sql.SQL(sqlfiles.source(f"import/{name}"))


def _convert_to_wgs84(valid: list[dict]) -> None:
    """Bring the rows' geometries to WGS84: one vectorised conversion per source CRS (a kept
    stored geometry is WGS84 already)."""
    by_crs: dict[str, list[dict]] = {}
    for values in valid:
        if values["source_crs"] not in ("WGS84", "CGCS2000") and not values.get("geom_kept"):
            by_crs.setdefault(values["source_crs"], []).append(values)
    for crs, rows in by_crs.items():
        converted = many_to_wgs84([values["geom"] for values in rows], crs)
        for values, geom in zip(rows, converted):
            values["geom"] = geom


def _copy(connection, valid: list[dict]) -> None:
    """Convert one chunk of valid rows to WGS84 and COPY it into the staging table."""
    if not valid:
        return
    build_points(valid)
    _convert_to_wgs84(valid)
    geoms = shapely.set_srid([values["geom"] for values in valid], 4326)
    ewkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
    columns = ", ".join(STAGING_COLUMNS)
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY import_staging ({columns}) FROM STDIN") as copy:
            copy.set_types(_STAGING_TYPES)
            # the values are not used after staging: they take the COPY's text forms in place
            # and one C-level itemgetter makes each row
            row_of = itemgetter(*STAGING_COLUMNS)
            for values, geom in zip(valid, ewkb):
                values["geom"] = geom
                for column in _ARRAY_COLUMNS:
                    values[column] = _array_literal(values[column])
                copy.write_row(row_of(values))


def _array_literal(items: list[str]) -> str:
    """A PostgreSQL text[] literal; every element quoted, so commas, braces and NULL stay text."""
    if not items:
        return "{}"
    joined = '","'.join(items)
    if "\\" not in joined and joined.count('"') == 2 * (len(items) - 1):  # nothing to escape
        return '{"' + joined + '"}'
    return "{" + ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for item in items) + "}"
