"""Import projects from the departments' spreadsheets (DESIGN §4): the one service behind the
``eqreg projects import`` command and the web import.

Rows are read and validated in Python (``registry.validation``) and COPYed into a temporary
staging table chunk by chunk (a file's rows are never all in memory) by a worker thread, which,
while the next chunk is validated, also takes out the chunk's rows outside the district and
inserts its new codes with their town shares and audit entries. Everything else that needs the
database — locking and version check of stored projects, town matching of moved projects, their
update by project code, town shares and audit entries (before → after, like an edit),
declared-town comparison — is one set-based statement each, all in the caller's transaction and
committed once, so a failure (or a dry run) leaves the registry as it was.
"""
from __future__ import annotations

import gc
import hashlib
import io
import logging
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO, Callable, Mapping

import shapely
from psycopg import errors as psycopg_errors
from psycopg import sql as psycopg_sql
from psycopg.copy import Copy, FileWriter
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import many_to_wgs84
from geo.matching import add_shares
from registry.matching import match_staged
from registry import audit, fields, sqlfiles
from registry.db import text_array
from registry.district_fit import partly_outside_message, resolve_district
from registry.errors import Conflict, InvalidInput
from registry.import_report import ImportReport, Problem, field_label, shown
from registry.import_rows import build_points, validate_rows
from registry.models import ImportBatch
from registry.spreadsheet import read_table

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
# the change list's field order: the audit snapshot's
_FIELD_ORDER = {name: i for i, name in enumerate(fields.SNAPSHOT_KEYS)}


def import_projects(session: Session, source: str | Path | BinaryIO, *, filename: str | None = None,
                    district_code: str | None = None, default_crs: str = "WGS84",
                    sheet: str | None = None, dry_run: bool = False, strict: bool = False,
                    clear_blanks: bool = False, restore: bool = False,
                    expected_versions: Mapping[str, int | None] | None = None,
                    when_busy: Callable[[], object] | None = None,
                    actor: str = "cli", progress: Callable[[int], object] | None = None,
                    allowed_districts: frozenset[str] | None = None) -> ImportReport:
    """Validate a CSV/XLSX file of projects and write the valid rows in one transaction.

    Parameters
    ----------
    source
        A path or a binary file object holding the whole spreadsheet.
    filename
        The name to record (defaults to the path's name).
    district_code
        The district the projects belong to; default: the only district with towns.
    default_crs
        Coordinate system of rows without 坐标系 (WGS84, CGCS2000, GCJ02, BD09).
    dry_run
        Run every check, report what would happen, write nothing.
    strict
        Write nothing when any row has an error or would clear a stored value (``will_clear``).
    clear_blanks
        Blank cells clear the stored value of an existing project (default: they keep it).
    restore
        Rows for soft-deleted projects restore them (default: the error ``deleted_project``).
    expected_versions
        Code → the version a preview showed (``report.versions``; ``None`` = new): a project
        edited since is the row error ``edit_conflict``.
    when_busy
        Called when another import into the district is running; the import then waits for it.
        Without it such an import is refused (``Conflict``).
    progress
        Called with the number of rows just processed (e.g. ``tqdm.update``).
    allowed_districts
        The districts the importing account may write (``Scope.district_codes``; None: any). A
        district outside them is refused (``Forbidden``); without ``district_code`` the only one
        of them with towns is chosen.

    Returns the report; raises ``ImportRejected``/``InvalidInput`` for an unreadable file or a
    registry without boundaries. Commits unless nothing is to be written.
    """
    if isinstance(source, (str, Path)):
        data = Path(source).read_bytes()
        filename = filename or Path(source).name
    else:
        data = source.read()
    filename = (filename or "upload").replace("\x00", "")  # PostgreSQL text holds no NUL
    attempts = _Attempts(expected_versions, progress)
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            district = resolve_district(session, district_code, allowed=allowed_districts)
            report = _run(session, data, filename=filename, district=district, default_crs=default_crs,
                          sheet=sheet, dry_run=dry_run, strict=strict, actor=actor,
                          clear_blanks=clear_blanks, restore=restore, attempts=attempts,
                          when_busy=when_busy)
            break
        except BaseException as error:
            session.rollback()
            if not _deadlocked(error):
                raise
            if attempt == _ATTEMPTS:
                raise Conflict("另一个导入正在写入相同的项目代码，多次重试仍互相等待，本次导入未写入任何数据；请稍后再试",
                               {"kind": "import_busy", "district_code": district}) from error
            attempts.again()
            log.warning("import %s: waited in a circle with another import (deadlock), rolled back, "
                        "attempt %d of %d", filename, attempt + 1, _ATTEMPTS)
    if report.written:
        session.commit()
    else:
        session.rollback()
    log.info("import %s: %s", filename, report.summary())
    return report


# New codes are inserted chunk by chunk in file order: two imports into different districts that
# share new codes in different orders can each hold a code the other waits for. PostgreSQL then
# aborts one (40P01); it has rolled back completely and runs again, by when the other has committed.
_ATTEMPTS = 3


def _deadlocked(error: BaseException) -> bool:
    return isinstance(getattr(error, "orig", error), psycopg_errors.DeadlockDetected)


class _Attempts:
    """What an import run again after a deadlock keeps from the attempt before.

    The versions its rows were checked against (``seen``): a code that was new then and that the
    other import has written meanwhile is an ``edit_conflict``, not overwritten (or moved to this
    district) by the run again. Rows the first attempt had not reached are checked afresh, as by an
    import started after the other one committed. And how many rows the caller's ``progress`` was
    told of: a run again reports only the rows beyond them.
    """

    def __init__(self, expected_versions: Mapping[str, int | None] | None,
                 progress: Callable[[int], object] | None):
        self.expected_versions = expected_versions
        self.seen: dict[str, int | None] = {}
        self._progress = progress
        self._told = self._done = 0

    def again(self) -> None:
        self.expected_versions = {**(self.expected_versions or {}), **self.seen}
        self.seen, self._done = {}, 0

    def progress(self, rows: int) -> None:
        self._done += rows
        if self._progress is not None and self._done > self._told:
            self._progress(self._done - self._told)
            self._told = self._done


@contextmanager
def _phase(name: str):
    """Log how long one step took (``eqreg -v``): the numbers behind the import budget."""
    started = time.perf_counter()
    yield
    log.debug("import %s: %.2f s", name, time.perf_counter() - started)


class _Validating:
    """The interpreter tuned while at least one import of this process checks and stages rows.

    Python's cyclic garbage collector is paused: validation and staging keep every row's dicts
    alive, so each automatic collection walks them again (~1 s of a 100 000-row file). The rows
    hold no reference cycles (reference counting frees them), so nothing accumulates meanwhile.

    The GIL changes hands every 0.5 ms instead of 5 ms: the staging worker mostly waits for the
    server and needs the GIL only briefly between statements, and each time it waited up to a
    whole interval for the validating thread to let go (~2 s of 100 000 rows).

    Both settings are the interpreter's, not a thread's: imports running at once in one server
    process count themselves in and out, and the last one out restores what the first one found.
    """

    SWITCH_INTERVAL = 0.0005

    def __init__(self):
        self._lock = threading.Lock()
        self._imports = 0
        self._saved: tuple[bool, float] = (True, 0.005)

    @contextmanager
    def __call__(self):
        with self._lock:
            if self._imports == 0:
                self._saved = gc.isenabled(), sys.getswitchinterval()
                gc.disable()
                sys.setswitchinterval(self.SWITCH_INTERVAL)
            self._imports += 1
        try:
            yield
        finally:
            with self._lock:
                self._imports -= 1
                if self._imports == 0:
                    gc_enabled, interval = self._saved
                    sys.setswitchinterval(interval)
                    if gc_enabled:
                        gc.enable()


_validating = _Validating()


def _run(session: Session, data: bytes, *, filename: str, district: str, default_crs: str,
         sheet: str | None, dry_run: bool, strict: bool, actor: str, clear_blanks: bool,
         restore: bool, attempts: _Attempts, when_busy: Callable[[], object] | None) -> ImportReport:
    report = ImportReport(dry_run=dry_run)
    table = read_table(data, filename=filename, sheet=sheet)
    report.problems.extend(table.problems)
    if not dry_run:
        _one_import_per_district(session, district, when_busy)
    batch = ImportBatch(district_code=district, filename=filename,
                        sha256=hashlib.sha256(data).hexdigest(), created_by=actor)
    session.add(batch)
    session.flush()
    # rows stream: each chunk is validated, converted and COPYed before the next is read; its new
    # codes are written as it is staged (a dry run or a rejected import rolls them back)
    with _phase("read, validate and stage"), _validating():
        _create_staging(session, district)
        with _BackgroundStaging(session, district=district, batch_id=batch.id, actor=actor,
                                filename=filename) as stage:
            rows = validate_rows(session, table.rows, default_crs=default_crs,
                                 clear_blanks=clear_blanks, restore=restore,
                                 expected_versions=attempts.expected_versions, versions=attempts.seen,
                                 progress=attempts.progress, stage=stage)
        _analyze_staging(session)
    report.problems.extend(rows.problems)
    report.versions, report.new_rows = rows.versions, rows.new_rows
    rejected_rows = set(rows.rejected)
    _report_chunk_checks(stage, rejected_rows, report)
    if not dry_run:
        with _phase("lock and version check"):
            _reject_edited(session, rejected_rows, report)
    report.rejected = len(rejected_rows)
    staged = rows.staged - len(rejected_rows - rows.rejected)
    with _phase("change list"):
        session.execute(text("DROP TABLE IF EXISTS pg_temp.import_before"))
        session.execute(sqlfiles.load("import/05_audit_snapshot"))
        session.execute(sqlfiles.load("import/06_audit_before"), {"district_code": district})
        session.execute(text("ANALYZE import_before"))
        _list_changes(session, report)

    if strict and (rejected_rows or report.clears):
        report.sort()
        return report
    with _phase("town matching"):
        match_staged(session, district_code=district)
        session.execute(text("ANALYZE match_shares"))
    with _phase("upsert"):
        session.execute(sqlfiles.load("import/09_upsert"), {"district_code": district, "batch_id": batch.id,
                                                            "actor": actor})
        report.imported, report.updated, relocated_ids = session.execute(_WRITTEN).one()
        session.execute(text("ANALYZE import_written"))
    report.unchanged = staged - report.imported - report.updated
    with _phase("town shares"):
        if relocated_ids:
            session.execute(text("DELETE FROM project_towns WHERE project_id = ANY(:ids)"),
                            {"ids": relocated_ids})
        if report.updated:
            session.execute(sqlfiles.load("import/10_project_towns"))
    with _phase("project audit"):
        if report.updated:
            session.execute(sqlfiles.load("import/11_audit"),
                            {"batch_id": batch.id, "actor": actor, "filename": filename})
    with _phase("declared towns"):
        _check_towns(session, district, report)
    session.execute(text("DROP TABLE import_staging, import_district, import_before, import_written, "
                         "import_chunk_new"))
    report.sort()
    report.batch_id = None if dry_run else batch.id
    report.written = not dry_run
    counts = {"imported": report.imported, "updated": report.updated,
              "unchanged": report.unchanged, "rejected": report.rejected}
    batch.imported, batch.updated, batch.rejected = report.imported, report.updated, report.rejected
    batch.report = report.to_dict()
    audit.record(session, actor=actor, action="import", entity="import_batch", entity_id=batch.id,
                 district_code=district,
                 details={**counts, "filename": filename, "sha256": batch.sha256,
                          "clear_blanks": clear_blanks, "restore": restore})
    return report




def _one_import_per_district(session: Session, district: str,
                             when_busy: Callable[[], object] | None) -> None:
    """Imports into one district run one at a time (a transaction-level advisory lock).

    When another import holds it: ``when_busy`` is called and the import waits (CLI), or, without
    ``when_busy``, the import is refused with ``Conflict`` (HTTP 409 on the web).
    """
    params = {"district": district}
    if session.execute(_TRY_LOCK, params).scalar():
        return
    if when_busy is None:
        raise Conflict(f"行政区 {district} 正有另一个导入在写入，请等它完成后再试",
                       {"kind": "import_busy", "district_code": district})
    when_busy()
    session.execute(_LOCK, params)


# inserted, updated, and the updated projects whose location changes (their shares are redone)
_WRITTEN = text("SELECT count(*) FILTER (WHERE w.inserted), count(*) FILTER (WHERE NOT w.inserted), "
                "COALESCE(array_agg(w.id) FILTER (WHERE NOT w.inserted AND b.geom_same IS NOT TRUE), '{}') "
                "FROM import_written w LEFT JOIN import_before b ON b.id = w.id")
_LOCK_KEY = "hashtext('eqreg.import'), hashtext(:district)"
_TRY_LOCK = text(f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})")
_LOCK = text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


def _reject_edited(session: Session, rejected_rows: set[int], report: ImportReport) -> None:
    """Lock the stored projects in code order and drop the rows whose project changed since the
    row was validated (``edit_conflict``): an edit is never overwritten by an import."""
    conflicts = []
    for row, code, version, was in session.execute(sqlfiles.load("import/04_lock")):
        conflicts.append(row)
        message = (f"项目 {code} 在本次导入校验之后已被修改（现为第 {version} 版，校验时为"
                   f"第 {was} 版），本行未导入，以免覆盖他人的修改；"
                   "请核对后重新导入")
        report.problems.append(Problem(row, "项目代码", "edit_conflict", "error", message))
    if conflicts:
        rejected_rows.update(conflicts)
        session.execute(text("DELETE FROM import_staging WHERE row = ANY(:rows)"), {"rows": conflicts})


def _list_changes(session: Session, report: ImportReport) -> None:
    """Fill the report's change list; a stored value becoming empty is a ``will_clear`` warning."""
    by_row: dict[int, dict] = {}
    found = sorted(session.execute(sqlfiles.load("import/07_changes")).all(),
                   key=lambda change: (change.row, _FIELD_ORDER.get(change.field, len(_FIELD_ORDER))))
    for row, code, name, field, before, after in found:
        entry = by_row.setdefault(row, {"row": row, "code": code, "name": name, "action": "update",
                                        "fields": []})
        if field == "deleted_at":
            entry["action"] = "restore"
        entry["fields"].append({"field": field, "label": field_label(field), "before": before,
                                "after": after})
        if field != "deleted_at" and not _empty(before) and _empty(after):
            report.problems.append(Problem(row, field_label(field), "will_clear", "warning",
                                           f"将清空已有的{field_label(field)}（原为“{shown(before)}”）"))
    report.changes = list(by_row.values())


def _empty(value) -> bool:
    return value is None or value == "" or value == []


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


def _create_staging(session: Session, district: str) -> None:
    """The empty staging tables and the district's outline, in the session's own transaction."""
    # the planner's cost estimates for the geodesic SQL trigger JIT compilation, which costs more
    # than it saves on these single-pass statements
    session.execute(text("SET LOCAL jit = off"))
    # the upsert sorts the staged rows by code and the audit sorts 100 000 snapshots by id: with
    # the default 4 MB each spilled to disk (~1 s apiece at 100 000 rows)
    session.execute(text("SET LOCAL work_mem = '128MB'"))
    session.execute(text("DROP TABLE IF EXISTS pg_temp.import_staging, pg_temp.import_district, "
                         "pg_temp.import_written, pg_temp.import_chunk_new"))
    session.execute(sqlfiles.load("import/01_staging"))
    session.connection().exec_driver_sql(sqlfiles.source("import/01_written"))
    session.execute(sqlfiles.load("import/01_district"), {"district_code": district})


class _BackgroundStaging:
    """Stage each validated chunk on a worker thread while the next chunk is validated.

    The worker builds the chunk's points, converts it to WGS84, COPYs it into ``import_staging``,
    takes out its rows outside the district and finds those partly outside (``import/02``,
    ``03_partly_outside.sql``), matches the rows of new codes to towns
    (``geo.matching.add_shares``) and inserts them with their shares and audit entries
    (``import/03_insert_new.sql``): on two cores the server's share of that work overlaps the
    Python checks instead of following them. What the chunk checks found waits in ``outside``,
    ``partly_outside`` and ``overtaken`` for the report. One chunk is in flight at a time (memory
    stays bounded); the worker uses the session's own psycopg connection, whose lock keeps its
    statements and the validator's look-ups apart, all in the one transaction. Leaving the block
    waits for the worker and raises what it raised.
    """

    def __init__(self, session: Session, *, district: str, batch_id: int, actor: str, filename: str):
        self._connection = session.connection().connection.driver_connection
        self._literals = {name: psycopg_sql.Literal(value) for name, value in (
            ("district_code", district), ("batch_id", batch_id), ("actor", actor), ("filename", filename))}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-staging")
        self._pending: Future | None = None
        self._waited = 0.0  # for ``eqreg -v``: how long the checks waited for the worker
        self.outside: list[tuple] = []  # (row, geom_column, kind): 02_reject_outside.sql
        self.partly_outside: list[tuple] = []  # (row, geom_column, outside_km, outside_km2)
        self.overtaken: list[tuple] = []  # (row, code): 03_overtaken.sql

    def __enter__(self) -> "_BackgroundStaging":
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
        _stage(self._connection, valid)
        chunk = {"first": psycopg_sql.Literal(valid[0]["row"]), "last": psycopg_sql.Literal(valid[-1]["row"]),
                 **self._literals}
        self.outside.extend(self._results(chunk, "02_reject_outside"))
        self.partly_outside.extend(self._results(chunk, "03_partly_outside"))
        add_shares(self._connection, _NEW_CODES_TO_MATCH.format(**chunk))
        self.overtaken.extend(self._results(chunk, "03_insert_new", "03_overtaken"))

    def _results(self, chunk: dict, *names: str) -> list[tuple]:
        """Run the chunk statements ``names`` (one round trip) and return the last one's rows."""
        with self._connection.cursor() as cursor:
            cursor.execute(psycopg_sql.SQL(";\n").join([_chunk_sql(name).format(**chunk) for name in names]))
            while cursor.nextset():
                pass
            return cursor.fetchall()


# the staged rows of one chunk that are new codes: matched as they are staged (the rest once every
# row is staged: match_input_staged.sql)
_NEW_CODES_TO_MATCH = psycopg_sql.SQL(
    "INSERT INTO match_input (key, district_code, geom) "
    "SELECT s.row, {district_code}, ST_SetSRID(s.geom, 4326) FROM import_staging s "
    "WHERE s.row BETWEEN {first} AND {last} AND s.expected_version IS NULL")


@cache
def _chunk_sql(name: str) -> psycopg_sql.SQL:
    """``registry/sql/import/<name>.sql``, run per chunk with its values composed in, without its
    comment lines: a composed value ends at the end of a comment's line, so a file name with a
    line break in a comment would have become a statement of its own."""
    lines = sqlfiles.source(f"import/{name}").splitlines()
    return psycopg_sql.SQL("\n".join(line for line in lines if not line.lstrip().startswith("--")))


def _report_chunk_checks(stage: _BackgroundStaging, rejected_rows: set[int], report: ImportReport) -> None:
    """What the staging worker's chunk checks found: rows outside the district (errors), lines
    and areas partly outside (warnings), new codes registered by someone else meanwhile."""
    for row, geom_column, kind in stage.outside:
        rejected_rows.add(row)
        message = ("位置在本行政区之外，经纬度可能填反了" if kind == "swapped_coords"
                   else "位置不在本行政区范围内，请核对坐标和坐标系")
        report.problems.append(Problem(row, geom_column, kind, "error", message))
    for row, geom_column, outside_km, outside_km2 in stage.partly_outside:
        message = partly_outside_message(outside_km, outside_km2)
        if message is not None:
            report.problems.append(Problem(row, geom_column, "partly_outside", "warning", message))
    for row, code in stage.overtaken:
        rejected_rows.add(row)
        report.problems.append(Problem(
            row, "项目代码", "edit_conflict", "error",
            f"项目 {code} 在本次导入校验之后已由他人登记，本行未导入，以免覆盖；请核对后重新导入"))


def _stage(connection, valid: list[dict]) -> None:
    """Convert one chunk of valid rows to WGS84 and COPY it into the staging table."""
    if not valid:
        return
    build_points(valid)
    _convert_to_wgs84(valid)
    data = _copy_data(connection, valid)
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY import_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
            copy.write(data)


def _copy_data(connection, valid: list[dict]) -> bytes:
    """The chunk's rows in COPY's text format, made before the COPY starts: a COPY holds the
    connection until it ends, and the validator's next look-up waits for it."""
    geoms = shapely.set_srid([values["geom"] for values in valid], 4326)
    ewkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
    buffer = io.BytesIO()
    with connection.cursor() as cursor, Copy(cursor, writer=FileWriter(buffer)) as copy:
        copy.set_types(_STAGING_TYPES)
        # the values are not used after staging: they take the COPY's text forms in place and
        # one C-level itemgetter makes each row
        row_of = itemgetter(*STAGING_COLUMNS)
        for values, geom in zip(valid, ewkb):
            values["geom"] = geom
            for column in _ARRAY_COLUMNS:
                values[column] = text_array(values[column])
            copy.write_row(row_of(values))
    return buffer.getvalue()


def _analyze_staging(session: Session) -> None:
    # the joins of staged rows with projects by code (04, 06, 12) then look each code up whichever
    # side the planner starts from: the chunks' new projects are in the table by now, and statistics
    # that still say it is empty (a vacuum after killed or dry-run imports) made it scan the staged
    # rows once per project. Built once the rows are in (kept up row by row it cost ~1 s).
    session.execute(text("CREATE INDEX ON import_staging (code)"))
    # a fresh temp table has no statistics: without them the planner guessed ~90 rows and joined
    # the staged rows with projects in nested loops (quadratic on the web role, DESIGN §9)
    session.execute(text("ANALYZE import_staging (row, code, expected_version)"))


def _check_towns(session: Session, district: str, report: ImportReport) -> None:
    for row, geom_column, declared, declared_code, primary_code, primary_name in session.execute(
            sqlfiles.load("import/12_town_check"), {"district_code": district}):
        if primary_code is None:
            report.problems.append(Problem(row, geom_column, "no_town", "warning",
                                           "位置在本行政区内但不在任何镇街范围内，未归属镇街"))
        elif declared_code is None:
            report.problems.append(Problem(row, "所属镇街", "unknown_town", "warning",
                                           f"所属镇街“{declared}”不是本区的镇街，已按位置归属{primary_name}"))
        else:
            report.problems.append(Problem(row, "所属镇街", "town_mismatch", "warning",
                                           f"所属镇街填写为“{declared}”，但位置在{primary_name}，以位置为准"))
