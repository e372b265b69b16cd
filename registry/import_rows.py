"""Validate an import's rows against the projects already in the registry (DESIGN §4, §9).

A row for a **new** code must carry every required column. A row for an **existing** code is laid
over the stored project: a column absent from the file is never touched, a blank cell keeps the
stored value (unless ``clear_blanks``), absent or blank location columns keep the stored geometry;
the merged record is then validated as a whole, and the stage rules (``registry.lifecycle``) see
the stored stage. A code of a soft-deleted project is the error ``deleted_project`` unless
``restore``. The stored version each row was validated against travels with it, so the write can
tell an edit made in between (``edit_conflict``, ``registry.importing``).

Stored projects are read in chunks of ``_CHUNK`` codes, so rows stream as before.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from math import sqrt
from typing import Callable, Iterator, Mapping

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import lifecycle
from registry.db import text_array
from registry.import_report import Problem
from registry.project_input import ATTRIBUTE, GEOMETRY_KEYS
from registry.spreadsheet import Row
from registry.template import COLUMNS, REQUIRED_KEYS, header_label
from registry.validation import parse_wkts, registry_vocabularies, validate_record

_CHUNK = 2000
_PROGRESS_EVERY = 1000
_LOCATION_KEYS = frozenset(("wkt", "lng", "lat", "crs"))
_GEOMETRY_GIVEN = frozenset(("wkt", "lng", "lat"))
_NEVER_CLEARED = frozenset(REQUIRED_KEYS) | _LOCATION_KEYS | {"stage_reason"}
NEW_ROWS_LISTED = 200  # new rows named in the report (the preview); the rest are counted

# The stored values a re-import merges with: each template column as the text an import record
# holds (what registry.project_input.current_record makes of a project: numbers as written,
# dates ISO, lists joined by "；", flags 是/否), built in SQL so that no Decimal or date object
# is made only to be turned back into text. Plus the life-cycle state and what the write guards
# need, typed.
_TEXT_OF = {
    "money": "CAST(p.{a} AS text)", "number": "CAST(p.{a} AS text)",
    "date": "to_char(p.{a}, 'YYYY-MM-DD')", "list": "array_to_string(p.{a}, '；')",
    "flag": "CASE WHEN p.{a} THEN '是' ELSE '否' END"}
_RECORD_KEYS = tuple(column.key for column in COLUMNS if column.key not in GEOMETRY_KEYS)
_STORED = text(
    "SELECT " + ", ".join(
        _TEXT_OF.get("list" if column.key == "funding" else column.parser, "p.{a}").format(
            a=ATTRIBUTE.get(column.key, column.key))
        for column in COLUMNS if column.key not in GEOMETRY_KEYS) + """,
           p.id, p.version, p.deleted_at, p.source_crs, p.stage, p.stage_before_suspension,
           p.actual_start, p.actual_end, p.completed_investment, ST_AsBinary(p.geom) AS wkb,
           CASE WHEN ST_GeometryType(p.geom) = 'ST_Point' THEN ST_X(p.geom) END AS x,
           CASE WHEN ST_GeometryType(p.geom) = 'ST_Point' THEN ST_Y(p.geom) END AS y
    FROM projects p
    WHERE p.code = ANY(CAST(:codes AS text[]))""")
_CODE_AT = _RECORD_KEYS.index("code")
_LIFECYCLE_FIELDS = ("stage", "stage_before_suspension", "actual_start", "actual_end",
                     "completed_investment")


@dataclass
class ValidatedRows:
    """What ``validate_rows`` found: rows to stage (unless they went to ``stage``), how many were
    valid, rejected row numbers, and for the report the version of every existing code and the
    first new rows."""
    valid: list[dict] = field(default_factory=list)
    staged: int = 0
    rejected: set[int] = field(default_factory=set)
    versions: dict[str, int | None] = field(default_factory=dict)
    new_rows: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def clean_code(value: object) -> str:
    return str(value or "").strip().lstrip("'").strip()


def _given(record: dict) -> set[str]:
    """The keys of the record's cells that are not blank (``_blank``), in one pass."""
    try:
        return {key for key, value in record.items()
                if value and (text := value.strip()) and (text[0] != "'" or text.lstrip("'").strip())}
    except AttributeError:  # a non-text value (XLSX cell): the slow path
        return {key for key, value in record.items() if not _blank(value)}


def _blank(value: object) -> bool:
    """Empty, spaces, or only the apostrophe spreadsheets put before digits."""
    if value is None:
        return True
    text = value.strip() if isinstance(value, str) else str(value).strip()
    return not text or (text[0] == "'" and not text.lstrip("'").strip())


def validate_rows(session: Session, rows: Iterator[Row], *, default_crs: str, clear_blanks: bool = False,
                  restore: bool = False, expected_versions: Mapping[str, int | None] | None = None,
                  versions: dict[str, int | None] | None = None,
                  progress: Callable[[int], object] | None = None,
                  stage: Callable[[list[dict]], object] | None = None) -> ValidatedRows:
    """Validate every row; the first row with a code claims it, later ones are ``duplicate_code``.

    ``expected_versions`` (code → version, ``None`` = new) replaces the versions read now: the web
    import confirms what its preview showed, so an edit made since the preview is a conflict.
    Geometry stays in each row's source CRS (``geom_kept`` rows are WGS84 already), and a point
    given by 经度/纬度 as its ``(lng, lat)`` pair until ``build_points``.
    ``stage`` takes each chunk's valid rows as soon as they are checked (then ``valid`` stays
    empty): a file's rows are never all in memory at once. ``versions`` (filled as rows are
    checked, and ``out.versions``) lets the caller keep them when the validation fails halfway.
    """
    domains, funding = registry_vocabularies(session)
    out = ValidatedRows(versions={} if versions is None else versions)
    first_row_of: dict[str, int] = {}
    pending = 0
    chunk, stored = _next_chunk(session, rows)
    while chunk:
        wkts = parse_wkts(record.get("wkt") for _row, record in chunk)
        for row, record in chunk:
            _validate_row(out, row, record, stored, first_row_of, default_crs=default_crs,
                          domains=domains, funding=funding, clear_blanks=clear_blanks,
                          restore=restore, expected_versions=expected_versions, wkts=wkts)
        pending += len(chunk)
        # the next chunk's stored projects are read before this chunk is staged: a ``stage`` that
        # works in the background then has the connection while the next chunk is validated
        chunk, stored = _next_chunk(session, rows)
        if stage is not None:
            stage(out.valid)
            out.valid = []
        if progress is not None and pending >= _PROGRESS_EVERY:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)
    return out


def _next_chunk(session: Session, rows: Iterator[Row]) -> tuple[list[Row], dict]:
    """The next ``_CHUNK`` rows and the stored projects their codes name."""
    chunk = list(islice(rows, _CHUNK))
    return chunk, _stored(session, {clean_code(record.get("code")) for _row, record in chunk})


def _stored(session: Session, codes: set[str]) -> dict:
    """Code → the stored project the session sees, or ``HIDDEN`` for a code registered where it
    cannot see (another district's project, under row-level security; migration 0023)."""
    codes.discard("")
    if not codes:
        return {}
    width = len(_RECORD_KEYS)
    stored: dict = {row[_CODE_AT]: _Stored(dict(zip(_RECORD_KEYS, row[:width])), *row[width:])
                    for row in session.execute(_STORED, {"codes": text_array(sorted(codes))})}
    if len(stored) < len(codes):
        taken = session.scalar(_TAKEN, {"codes": sorted(codes - stored.keys())})
        stored.update(dict.fromkeys(taken, HIDDEN))
    return stored


HIDDEN = object()  # a code ``_stored`` found registered but out of the session's sight
# Only a session under row-level security (the web role) can miss a registered code.
_TAKEN = text("SELECT CASE WHEN row_security_active('projects') "
              "THEN eqreg_taken_codes(CAST(:codes AS text[])) ELSE '{}' END")


@dataclass
class _Stored:
    """A stored project as ``_STORED`` reads it: its import record (text) and the typed rest."""
    record: dict
    id: int
    version: int
    deleted_at: object
    source_crs: str
    stage: str
    stage_before_suspension: str | None
    actual_start: object
    actual_end: object
    completed_investment: object
    wkb: bytes
    x: float | None  # a stored point's coordinates (None for lines and polygons)
    y: float | None

    def geometry(self):
        """The stored geometry as ``validate_record(convert=False)`` gives one: a point as its
        ``(lng, lat)`` pair, anything else parsed from WKB."""
        return shapely.from_wkb(self.wkb) if self.x is None else (self.x, self.y)

    @property
    def name(self) -> str:
        return self.record["name"]


def _validate_row(out: ValidatedRows, row: int, record: dict, stored: dict, first_row_of: dict, *,
                  default_crs: str, domains, funding, clear_blanks: bool, restore: bool,
                  expected_versions: Mapping | None, wkts: Mapping) -> None:
    code = clean_code(record.get("code"))
    project = stored.get(code)
    if code and first_row_of.setdefault(code, row) != row:
        first = first_row_of[code]
        out.problems.append(Problem(row, "项目代码", "duplicate_code", "error",
                                    f"项目代码 {code} 与第 {first} 行重复，以第 {first} 行为准"))
        out.rejected.add(row)
        return
    if project is HIDDEN:
        out.problems.append(Problem(
            row, "项目代码", "code_of_other_district", "error",
            f"项目代码 {code} 已登记在您无权修改的区县，不能在此导入；如需调整请联系该区县或管理员"))
        out.rejected.add(row)
        return
    if project is not None and project.deleted_at is not None and not restore:
        out.problems.append(Problem(
            row, "项目代码", "deleted_project", "error",
            f"项目代码 {code} 属于已删除的项目（{project.name}）；如需恢复并更新，请选择“恢复已删除的项目”"
            "（命令行 --restore）"))
        out.rejected.add(row)
        return
    if project is None:
        values, problems = validate_record(record, row=row, default_crs=default_crs, domains=domains,
                                           funding=funding, convert=False, wkts=wkts)
    else:
        given = _given(record)
        merged = _merge(record, given, project.record, clear_blanks)
        # the stored geometry is read only when the row gives no location
        kept = None if given & _GEOMETRY_GIVEN else (project.geometry(), project.source_crs)
        values, problems = validate_record(
            merged, row=row, default_crs=default_crs, domains=domains, funding=funding, convert=False,
            kept_geometry=kept, wkts=wkts)
        problems = _own_problems(problems, record, given)
    if values is not None and project is not None and not values.get("geom_kept"):
        _keep_unmoved_location(values, project)
    if values is not None:
        before = None if project is None else {f: getattr(project, f) for f in _LIFECYCLE_FIELDS}
        stage_problems = lifecycle.import_row_problems(before, values, row=row,
                                                       reason=record.get("stage_reason"))
        problems.extend(stage_problems)
        if any(p.severity == "error" for p in stage_problems):
            values = None
    out.problems.extend(problems)
    if values is None:
        out.rejected.add(row)
        return
    current = None if project is None else project.version
    expected = expected_versions.get(code, current) if expected_versions is not None else current
    out.versions[code] = expected
    values.update(row=row, expected_version=expected, restore=project is not None and project.deleted_at is not None,
                  stage_reason=(record.get("stage_reason") or "").strip() or None)
    if project is None and len(out.new_rows) < NEW_ROWS_LISTED:
        out.new_rows.append({"row": row, "code": code, "name": values["name"]})
    out.valid.append(values)
    out.staged += 1


# Coordinates written out by an export (WGS84, 7 decimals) come back within ~1 cm: the same place.
SAME_PLACE_DEGREES = 1e-6


def _keep_unmoved_location(values: dict, project: _Stored) -> None:
    """A WGS84 location equal to the stored one (an exported sheet coming back) is no change: the
    stored geometry and the CRS it was first given in (``source_crs``, e.g. GCJ02) are kept.

    A point (a ``(lng, lat)`` pair) is compared with the stored point's coordinates as GEOS's
    ``equals_exact`` would (distance within the tolerance; a point never equals a line or a
    polygon) without making either geometry.
    """
    if values["source_crs"] not in ("WGS84", "CGCS2000"):
        return
    geom = values["geom"]
    if type(geom) is tuple:
        if project.x is None:
            return
        dx, dy = geom[0] - project.x, geom[1] - project.y
        if sqrt(dx * dx + dy * dy) <= SAME_PLACE_DEGREES:
            values.update(geom=(project.x, project.y), source_crs=project.source_crs, geom_kept=True)
        return
    stored = shapely.from_wkb(project.wkb)
    if shapely.equals_exact(geom, stored, tolerance=SAME_PLACE_DEGREES):
        values.update(geom=stored, source_crs=project.source_crs, geom_kept=True)


def build_points(valid: list[dict]) -> None:
    """Make the points of rows whose geometry is still a ``(lng, lat)`` pair, all in one call."""
    at = [i for i, values in enumerate(valid) if type(values["geom"]) is tuple]
    if at:
        for i, point in zip(at, shapely.points([valid[i]["geom"] for i in at])):
            valid[i]["geom"] = point


def _merge(record: dict, given: set[str], stored: dict, clear_blanks: bool) -> dict:
    """The row laid over the stored project's record: given cells win, blanks keep (or clear)."""
    merged = dict(stored)
    for key, value in record.items():
        if key in given:
            merged[key] = value
        elif clear_blanks and key not in _NEVER_CLEARED:
            merged[key] = None
    return merged


def _own_problems(problems: list[Problem], record: dict, given: set[str]) -> list[Problem]:
    """Warnings about stored values the row does not touch are noise: keep the row's own."""
    if all(p.severity == "error" for p in problems):
        return problems
    columns = {header_label(key) for key in given}
    if {"lng", "lat"} & record.keys():
        columns.add("经度、纬度")
    return [p for p in problems if p.severity == "error" or p.column in columns]
