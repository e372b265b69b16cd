"""Import projects from the departments' spreadsheets (DESIGN §4): the one service behind the
``eqreg projects import`` command and the web import.

Rows are read and validated in Python (``registry.validation``) and COPYed into a temporary
staging table chunk by chunk (a file's rows are never all in memory) by a worker thread
(``registry.import_staging``), which also rejects rows outside the district, matches new codes to
towns and — unless another import is writing new codes too — inserts them with their town shares
and audit entries while the next chunk is validated. Everything else that needs the database —
swapped coordinates, town matching of moved projects, upsert of stored projects by project code
(with the primary town), their town shares, one audit entry per changed project (before → after,
like an edit), declared-town comparison — is one set-based statement each, all in the caller's
session and committed once, so a failure leaves the registry as it was.
"""
from __future__ import annotations

import gc
import hashlib
import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Mapping

from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.matching import match_staged
from registry import audit, fields, sqlfiles
from registry.district_fit import partly_outside_message, resolve_district
from registry.errors import Conflict
from registry.import_report import ImportReport, Problem, field_label, shown
from registry.import_rows import validate_rows
from registry.import_staging import BackgroundStaging, NewCodeWrite, analyze_staging, create_staging
from registry.models import ImportBatch
from registry.spreadsheet import read_table

log = logging.getLogger(__name__)

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
    filename = filename or "upload"
    try:
        district = resolve_district(session, district_code, allowed=allowed_districts)
        report = _run(session, data, filename=filename, district=district, default_crs=default_crs,
                      sheet=sheet, dry_run=dry_run, strict=strict, actor=actor,
                      clear_blanks=clear_blanks, restore=restore,
                      expected_versions=expected_versions, when_busy=when_busy, progress=progress)
    except BaseException:
        session.rollback()
        raise
    if report.written:
        session.commit()
    else:
        session.rollback()
    log.info("import %s: %s", filename, report.summary())
    return report


@contextmanager
def _phase(name: str):
    """Log how long one step took (``eqreg -v``): the numbers behind the import budget."""
    started = time.perf_counter()
    yield
    log.debug("import %s: %.2f s", name, time.perf_counter() - started)


@contextmanager
def _no_cycle_collection():
    """Pause Python's cyclic garbage collector while rows are validated.

    Validation and staging keep every row's dicts alive, so each automatic collection walks them
    again: ~1 s of a 100 000-row file. The rows hold no reference cycles (reference counting
    frees them), so nothing accumulates while it is paused.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(session: Session, data: bytes, *, filename: str, district: str, default_crs: str,
         sheet: str | None, dry_run: bool, strict: bool, actor: str, clear_blanks: bool,
         restore: bool, expected_versions: Mapping[str, int | None] | None,
         when_busy: Callable[[], object] | None,
         progress: Callable[[int], object] | None) -> ImportReport:
    report = ImportReport(dry_run=dry_run)
    table = read_table(data, filename=filename, sheet=sheet)
    report.problems.extend(table.problems)
    batch = ImportBatch(district_code=district, filename=filename,
                        sha256=hashlib.sha256(data).hexdigest(), created_by=actor)
    write_new = None
    if not dry_run:
        _one_import_per_district(session, district, when_busy)
        session.add(batch)
        session.flush()
        if session.execute(_TRY_NEW_CODES_LOCK).scalar():
            write_new = NewCodeWrite(batch_id=batch.id, actor=actor, filename=filename)
    # rows stream: each chunk is validated, converted and COPYed before the next is read
    with _phase("read, validate and stage"), _no_cycle_collection():
        create_staging(session)
        with BackgroundStaging(session, district, write_new) as stage:
            rows = validate_rows(session, table.rows, default_crs=default_crs,
                                 clear_blanks=clear_blanks, restore=restore,
                                 expected_versions=expected_versions, progress=progress, stage=stage)
        analyze_staging(session)
    report.problems.extend(rows.problems)
    report.versions, report.new_rows = rows.versions, rows.new_rows
    rejected_rows = set(rows.rejected)
    for row, geom_column, kind in stage.found.outside:
        rejected_rows.add(row)
        message = ("位置在本行政区之外，经纬度可能填反了" if kind == "swapped_coords"
                   else "位置不在本行政区范围内，请核对坐标和坐标系")
        report.problems.append(Problem(row, geom_column, kind, "error", message))
    rejected_rows |= _overtaken(report, stage.found.overtaken)
    for row, geom_column, outside_km, outside_km2 in stage.found.partly_outside:
        message = partly_outside_message(outside_km, outside_km2)
        if message is not None:
            report.problems.append(Problem(row, geom_column, "partly_outside", "warning", message))
    new_codes_written = write_new is not None
    if not dry_run:
        with _phase("lock and version check"):
            if not new_codes_written:  # wait for the import writing new codes (one at a time)
                session.execute(_NEW_CODES_LOCK)
            _reject_edited(session, rejected_rows, report, new_codes_written)
    report.rejected = len(rejected_rows)
    staged = rows.staged - len(rejected_rows - rows.rejected)
    with _phase("change list"):
        session.execute(text("DROP TABLE IF EXISTS pg_temp.import_before"))
        session.execute(sqlfiles.load("import/05_audit_snapshot"))
        session.execute(sqlfiles.load("import/06_audit_before"),
                        {"district_code": district, "new_codes_written": new_codes_written})
        session.execute(text("ANALYZE import_before"))
        _list_changes(session, report)

    if strict and (rejected_rows or report.clears):
        report.sort()
        return report
    with _phase("town matching"):
        match_staged(session, district_code=district, added_written=new_codes_written)
        session.execute(text("ANALYZE match_shares"))
    if dry_run:  # the batch only gives the preview's upsert a key (rolled back)
        session.add(batch)
        session.flush()
    with _phase("upsert"):
        overtaken = _upsert(session, report, {"district_code": district, "batch_id": batch.id,
                                              "actor": actor, "new_codes_written": new_codes_written})
        report.imported, report.updated, relocated_ids = session.execute(_WRITTEN).one()
        report.imported += stage.found.inserted
        session.execute(text("ANALYZE import_written"))
    rejected_rows |= overtaken
    report.rejected, staged = len(rejected_rows), staged - len(overtaken)
    report.unchanged = staged - report.imported - report.updated
    with _phase("town shares"):
        if relocated_ids:
            session.execute(text("DELETE FROM project_towns WHERE project_id = ANY(:ids)"),
                            {"ids": relocated_ids})
        if report.imported or report.updated:
            session.execute(sqlfiles.load("import/10_project_towns"))
    with _phase("project audit"):
        if report.imported or report.updated:
            session.execute(sqlfiles.load("import/11_audit"),
                            {"batch_id": batch.id, "actor": actor, "filename": filename,
                             "district_code": district})
    with _phase("declared towns"):
        _check_towns(session, district, report)
    session.execute(text("DROP TABLE import_staging, import_new_snapshot, import_chunk_written, import_before, "
                         "import_written"))
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
# One import at a time writes new codes as it stages them (import_staging.BackgroundStaging):
# its chunks insert codes in no global order, so two such imports (of two districts) could wait
# on each other's codes. An import that does not get this lock stages only, and takes it (waits
# for the other to commit) before it locks and writes anything, in code order as before.
_NEW_CODES_KEY = "hashtext('eqreg.import'), hashtext('new codes')"
_TRY_NEW_CODES_LOCK = text(f"SELECT pg_try_advisory_xact_lock({_NEW_CODES_KEY})")
_NEW_CODES_LOCK = text(f"SELECT pg_advisory_xact_lock({_NEW_CODES_KEY})")


def _reject_edited(session: Session, rejected_rows: set[int], report: ImportReport,
                   new_codes_written: bool) -> None:
    """Lock the stored projects in code order and drop the rows whose project changed since the
    row was validated (``edit_conflict``): an edit is never overwritten by an import."""
    conflicts = []
    for row, code, version, was in session.execute(sqlfiles.load("import/04_lock"),
                                                   {"new_codes_written": new_codes_written}):
        conflicts.append(row)
        message = (f"项目 {code} 在本次导入校验之后已被修改（现为第 {version} 版，校验时为"
                   f"{'新项目' if was is None else f'第 {was} 版'}），本行未导入，以免覆盖他人的修改；"
                   "请核对后重新导入")
        report.problems.append(Problem(row, "项目代码", "edit_conflict", "error", message))
    if conflicts:
        rejected_rows.update(conflicts)
        session.execute(text("DELETE FROM import_staging WHERE row = ANY(:rows)"), {"rows": conflicts})


def _upsert(session: Session, report: ImportReport, params: dict) -> set[int]:
    """Write the staged rows (import/09_upsert.sql); returns the rows it had to leave out.

    Stored projects were locked and checked before (``_reject_edited``); a new code can still be
    created by an edit in between. Such a row would update that project, so the write is undone
    (a savepoint) and redone without it: the row is an ``edit_conflict`` like any other.
    """
    dropped: set[int] = set()
    while True:
        savepoint = session.begin_nested()
        session.execute(sqlfiles.load("import/08_written"))
        session.execute(sqlfiles.load("import/09_upsert"), params)
        overtaken = session.execute(_OVERTAKEN).all()
        if not overtaken:
            savepoint.commit()
            return dropped
        savepoint.rollback()
        session.execute(text("DELETE FROM import_staging WHERE row = ANY(:rows)"),
                        {"rows": [row for row, _code in overtaken]})
        dropped |= _overtaken(report, overtaken)


def _overtaken(report: ImportReport, overtaken) -> set[int]:
    """Report rows of new codes that someone registered after they were validated; their rows."""
    for row, code in overtaken:
        report.problems.append(Problem(
            row, "项目代码", "edit_conflict", "error",
            f"项目 {code} 在本次导入校验之后已由他人登记，本行未导入，以免覆盖；请核对后重新导入"))
    return {row for row, _code in overtaken}


# rows validated as new codes whose upsert updated a project instead: created meanwhile
_OVERTAKEN = text("SELECT s.row, s.code FROM import_written w JOIN import_staging s ON s.code = w.code "
                  "WHERE NOT w.inserted AND s.expected_version IS NULL")


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
