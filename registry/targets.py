"""Plan targets (DESIGN §5a): the stored plan — jurisdictions, targets, hand-entered values and
baselines — and loading it from a YAML file like ``targets/seed-targets.yaml``.

Loading is idempotent by target ``id``: a reload updates the text, filter, threshold … of each
target it names and never removes anything (a target missing from the file is kept). Values and
baselines entered by hand live in ``target_entries`` (append-only, the latest wins), so a reload
never touches them. Every change is audited. What the targets *measure* is ``registry.target_report``.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from geoalchemy2 import Geography, Geometry
from sqlalchemy import BigInteger, Date, ForeignKey, Integer, Numeric, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry import audit, target_levels
from registry.errors import Forbidden, InvalidInput, NotFound
from registry.models import Base, Timestamp
from registry.roles import EDITORS
from registry.scope import Scope
from registry.vocab import domain_code, stage_code

METRICS = ("count", "sum_total_investment", "sum_equipment_investment", "sum_completed_investment",
           "sum_quantity", "sum_length_km", "growth_vs_baseline", "reported")
WINDOWS = ("cumulative", "per_year")
_CODE = re.compile(r"^[0-9A-Za-z_-]{1,12}$")
_ID = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


class TargetJurisdiction(Base):
    """A district (6-digit code), a zone (letter code, e.g. ``jbsc``), a city (4 digits) or a
    province (2 digits) whose plan sets targets (``registry.target_levels`` for the last two)."""
    __tablename__ = "target_jurisdictions"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))  # district | zone | city | province
    parent_code: Mapped[str | None] = mapped_column(String(6))
    document: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any | None] = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=False))
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


class Target(Base):
    __tablename__ = "targets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("target_jurisdictions.code"), index=True)
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    text: Mapped[str] = mapped_column(Text)
    metric: Mapped[str] = mapped_column(String(32))
    filter: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    threshold: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[dt.date] = mapped_column(Date)
    window: Mapped[str] = mapped_column("time_window", String(16), server_default="cumulative")
    file_baseline: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


class TargetEntry(Base):
    """A value (metric ``reported``) or a baseline entered by hand; the latest of a kind wins."""
    __tablename__ = "target_entries"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    target_id: Mapped[str] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # value | baseline
    value: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    as_of: Mapped[dt.date] = mapped_column(Date)
    entered_by: Mapped[str] = mapped_column(Text)
    entered_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


@dataclass(frozen=True)
class LoadResult:
    jurisdictions: int
    added: int
    updated: int
    unchanged: int


# --- Loading -----------------------------------------------------------------------------------

def load_file(session: Session, scope: Scope, data: bytes | str) -> LoadResult:
    """Load (or reload) a target file; every problem is one ``InvalidInput`` naming the target."""
    _require_editor(scope)
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"目标文件不是有效的 YAML：{exc}", {"kind": "bad_yaml"}) from None
    jurisdictions = (document or {}).get("jurisdictions") if isinstance(document, dict) else None
    if not isinstance(jurisdictions, list) or not jurisdictions:
        raise InvalidInput("目标文件缺少 jurisdictions 列表", {"kind": "missing_jurisdictions"})
    parsed = [_parse_jurisdiction(j) for j in jurisdictions]
    levels = [j["code"] for j, _targets in parsed if j["kind"] in target_levels.LEVELS]
    if levels and not target_levels.can_write_levels(scope):
        raise Forbidden(f"只有管理员可以导入地市或省级的规划目标：{'、'.join(levels)}")
    ids = [t["id"] for _j, targets in parsed for t in targets]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidInput(f"目标编号重复：{'、'.join(duplicates)}", {"kind": "duplicate_id", "ids": duplicates})
    added = updated = unchanged = 0
    for jurisdiction, targets in parsed:
        _upsert_jurisdiction(session, scope, jurisdiction)
        for position, values in enumerate(targets):
            outcome = _upsert_target(session, scope, {**values, "position": position,
                                                      "jurisdiction_code": jurisdiction["code"]})
            added += outcome == "added"
            updated += outcome == "updated"
            unchanged += outcome == "unchanged"
    session.commit()
    return LoadResult(len(parsed), added, updated, unchanged)


def _parse_jurisdiction(entry) -> tuple[dict, list[dict]]:
    if not isinstance(entry, dict):
        raise InvalidInput("jurisdictions 中每一项应为含 code、name、targets 的对象", {"kind": "bad_jurisdiction"})
    code = str(entry.get("code") or "").strip()
    if not _CODE.match(code):
        raise InvalidInput(f"辖区代码无效：{code or '（空）'}（区县为 6 位数字，地市 4 位，省 2 位，功能区为字母代码）",
                           {"kind": "bad_jurisdiction", "code": code})
    kind = "district" if re.fullmatch(r"\d{6}", code) else target_levels.level_of(code) or "zone"
    parent = str(entry.get("parent") or "").strip() or None
    if parent is not None and kind != "zone":
        raise InvalidInput(f"辖区 {code} 不是功能区，不能指定上级区县 parent", {"kind": "bad_jurisdiction", "code": code})
    if parent is not None and not re.fullmatch(r"\d{6}", parent):
        raise InvalidInput(f"辖区 {code} 的上级区县代码应为 6 位数字：{parent}", {"kind": "bad_jurisdiction"})
    targets = entry.get("targets") or []
    if not isinstance(targets, list):
        raise InvalidInput(f"辖区 {code} 的 targets 应为列表", {"kind": "bad_jurisdiction", "code": code})
    jurisdiction = {"code": code, "name": str(entry.get("name") or code), "kind": kind,
                    "parent_code": parent, "document": entry.get("document")}
    return jurisdiction, [_parse_target(code, t) for t in targets]


def _parse_target(jurisdiction: str, entry) -> dict:
    if not isinstance(entry, dict):
        raise InvalidInput(f"辖区 {jurisdiction} 的目标应为对象", {"kind": "bad_target"})
    target_id = str(entry.get("id") or "").strip()
    where = f"目标 {target_id or '（无编号）'}"
    if not _ID.match(target_id):
        raise InvalidInput(f"{where}：编号 id 缺失或含非法字符", {"kind": "bad_target", "id": target_id})
    metric = entry.get("metric")
    if metric not in METRICS:
        raise InvalidInput(f"{where}：无法识别的指标 metric：{metric}（可选：{'、'.join(METRICS)}）",
                           {"kind": "bad_metric", "id": target_id})
    window = entry.get("window") or "cumulative"
    if window not in WINDOWS:
        raise InvalidInput(f"{where}：无法识别的统计口径 window：{window}（可选：cumulative、per_year）",
                           {"kind": "bad_window", "id": target_id})
    return {"id": target_id, "text": str(entry.get("text") or target_id), "metric": metric,
            "filter": _parse_filter(where, target_id, entry.get("filter")),
            "threshold": _number(where, target_id, "threshold", entry.get("threshold"), required=True),
            "unit": (str(entry["unit"]).strip() or None) if entry.get("unit") is not None else None,
            "deadline": _date(where, target_id, entry.get("deadline")), "window": window,
            "file_baseline": _number(where, target_id, "baseline", entry.get("baseline"))}


def _parse_filter(where: str, target_id: str, raw) -> dict:
    """Normalise a filter: domains and stages as codes, categories as labels, a number."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}：filter 应为对象", {"kind": "bad_filter", "id": target_id})
    unknown = sorted(set(raw) - {"domain", "category", "min_total_investment", "stages"})
    if unknown:
        raise InvalidInput(f"{where}：filter 中无法识别的条件：{'、'.join(unknown)}",
                           {"kind": "bad_filter", "id": target_id})
    out: dict = {}
    for key, convert, label in (("domain", domain_code, "领域"), ("stages", stage_code, "项目阶段")):
        if raw.get(key) in (None, [], ""):
            continue
        values = raw[key] if isinstance(raw[key], list) else [raw[key]]
        codes = [convert(str(v)) for v in values]
        bad = [str(v) for v, c in zip(values, codes) if c is None]
        if bad:
            raise InvalidInput(f"{where}：无法识别的{label}：{'、'.join(bad)}", {"kind": "bad_filter", "id": target_id})
        out[key] = codes
    if raw.get("category") not in (None, [], ""):
        values = raw["category"] if isinstance(raw["category"], list) else [raw["category"]]
        out["category"] = [str(v).strip() for v in values]
    minimum = _number(where, target_id, "min_total_investment", raw.get("min_total_investment"))
    if minimum is not None:
        out["min_total_investment"] = float(minimum)
    return out


def _number(where: str, target_id: str, key: str, value, *, required: bool = False) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{where}：缺少 {key}", {"kind": "bad_number", "id": target_id, "field": key})
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0:
        raise InvalidInput(f"{where}：{key} 应为非负数：{value}", {"kind": "bad_number", "id": target_id, "field": key})
    return number


def _date(where: str, target_id: str, value) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{where}：截止日期 deadline 应为 YYYY-MM-DD：{value}",
                           {"kind": "bad_date", "id": target_id}) from None


def _upsert_jurisdiction(session: Session, scope: Scope, values: dict) -> None:
    row = session.get(TargetJurisdiction, values["code"])
    if row is None:
        session.add(TargetJurisdiction(**values))
        audit.record(session, actor=scope.actor, action="create", entity="target_jurisdiction",
                     entity_id=values["code"], after=values)
        return
    before = {k: getattr(row, k) for k in values}
    # a zone keeps the parent its boundary load gave it; a district, city or province has none
    keep_parent = values["kind"] == "zone"
    changed = {k: v for k, v in values.items() if before[k] != v and not (k == "parent_code" and v is None and keep_parent)}
    if changed:
        for key, value in changed.items():
            setattr(row, key, value)
        row.updated_at = func.now()
        audit.record(session, actor=scope.actor, action="update", entity="target_jurisdiction",
                     entity_id=values["code"], before={k: before[k] for k in changed}, after=changed)


def _upsert_target(session: Session, scope: Scope, values: dict) -> str:
    row = session.get(Target, values["id"])
    if row is None:
        session.add(Target(**values))
        audit.record(session, actor=scope.actor, action="create", entity="target", entity_id=values["id"],
                     after=_jsonable(values))
        return "added"
    before = {k: getattr(row, k) for k in values}
    changed = {k: v for k, v in values.items() if _differs(before[k], v)}
    if not changed:
        return "unchanged"
    for key, value in changed.items():
        setattr(row, key, value)
    row.updated_at = func.now()
    audit.record(session, actor=scope.actor, action="update", entity="target", entity_id=values["id"],
                 before=_jsonable({k: before[k] for k in changed}), after=_jsonable(changed))
    return "updated"


def _differs(old, new) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return (None if old is None else Decimal(old)) != (None if new is None else Decimal(new))
    return old != new


def _jsonable(values: dict) -> dict:
    return {k: (str(v) if isinstance(v, (Decimal, dt.date)) else v) for k, v in values.items()}


# --- Hand-entered values and baselines ------------------------------------------------------------

def set_value(session: Session, scope: Scope, target_id: str, value, *, as_of: dt.date | None = None) -> TargetEntry:
    """Record the bureau's latest value of a ``reported`` target (audited)."""
    target = _target_for_entry(session, scope, target_id)
    if target.metric != "reported":
        raise InvalidInput(f"目标 {target_id} 的指标为 {target.metric}，由项目数据计算，不能手工录入数值"
                           "（仅 reported 指标可录入）", {"kind": "not_reported", "id": target_id})
    return _enter(session, scope, target, "value", value, as_of or dt.date.today())


def set_baseline(session: Session, scope: Scope, target_id: str, value) -> TargetEntry:
    """Record the baseline (万元, 2023) of a ``growth_vs_baseline`` target (audited)."""
    target = _target_for_entry(session, scope, target_id)
    if target.metric != "growth_vs_baseline":
        raise InvalidInput(f"目标 {target_id} 的指标为 {target.metric}，不需要基数"
                           "（仅 growth_vs_baseline 指标需要）", {"kind": "no_baseline", "id": target_id})
    number = _number(f"目标 {target_id}", target_id, "基数", value, required=True)
    if number == 0:
        raise InvalidInput(f"目标 {target_id}：基数必须大于 0", {"kind": "bad_number", "id": target_id})
    return _enter(session, scope, target, "baseline", number, dt.date.today())


def _target_for_entry(session: Session, scope: Scope, target_id: str) -> Target:
    _require_editor(scope)
    target = session.get(Target, target_id)
    if target is None or not _in_districts(session, scope, target):
        raise NotFound(f"未找到目标：{target_id}", {"id": target_id})
    jurisdiction = session.get(TargetJurisdiction, target.jurisdiction_code)
    if jurisdiction.kind in target_levels.LEVELS and not target_levels.can_write_levels(scope):
        raise Forbidden("只有管理员可以填报地市或省级目标的数值和基数。")
    return target


def _in_districts(session: Session, scope: Scope, target: Target) -> bool:
    """A district-limited account enters values only for its districts' targets and their zones'
    (a zone has a code that is not all digits; a district's code is its own, whatever its parent)."""
    if scope.district_codes is None:
        return True
    jurisdiction = session.get(TargetJurisdiction, target.jurisdiction_code)
    if jurisdiction is None:
        return False
    zone_parent = jurisdiction.parent_code if not jurisdiction.code.isdigit() else None
    return bool({jurisdiction.code, zone_parent} & scope.district_codes)


def _enter(session: Session, scope: Scope, target: Target, kind: str, value, as_of: dt.date) -> TargetEntry:
    number = _number(f"目标 {target.id}", target.id, "数值", value, required=True)
    before = latest_entries(session, [target.id]).get((target.id, kind))
    entry = TargetEntry(target_id=target.id, kind=kind, value=number, as_of=as_of, entered_by=scope.actor)
    session.add(entry)
    audit.record(session, actor=scope.actor, action=f"target_{kind}", entity="target", entity_id=target.id,
                 before=None if before is None else {"value": str(before.value), "as_of": str(before.as_of),
                                                     "by": before.entered_by},
                 after={"value": str(number), "as_of": str(as_of), "by": scope.actor})
    session.commit()
    return entry


def latest_entries(session: Session, target_ids: list[str], *, as_of: dt.date | None = None
                   ) -> dict[tuple[str, str], TargetEntry]:
    """(target id, kind) → the latest entry (by date, then by entry time), up to ``as_of``."""
    query = (select(TargetEntry).where(TargetEntry.target_id.in_(target_ids))
             .order_by(TargetEntry.target_id, TargetEntry.kind, TargetEntry.as_of.desc(),
                       TargetEntry.entered_at.desc(), TargetEntry.id.desc()))
    if as_of is not None:
        query = query.where(TargetEntry.as_of <= as_of)
    out: dict[tuple[str, str], TargetEntry] = {}
    for entry in session.scalars(query):
        out.setdefault((entry.target_id, entry.kind), entry)
    return out


def set_zone_boundary(session: Session, scope: Scope, code: str, outline) -> None:
    """Store a zone's boundary (a shapely MultiPolygon in EPSG:4326); its targets then count the
    projects that meet it. Replacing a boundary is audited with both areas."""
    _require_editor(scope)
    zone = session.get(TargetJurisdiction, code)
    if zone is None or zone.kind != "zone":
        raise NotFound(f"未找到功能区：{code}（先用 eqreg targets load 导入其目标）", {"code": code})
    area = session.scalar(select(func.ST_Area(func.ST_GeomFromText(outline.wkt, 4326).cast(Geography)) / 1e6))
    before = None if zone.geom is None else session.scalar(select(func.ST_Area(zone.geom.cast(Geography)) / 1e6))
    zone.geom = func.ST_Multi(func.ST_GeomFromText(outline.wkt, 4326))
    zone.updated_at = func.now()
    audit.record(session, actor=scope.actor, action="boundary", entity="target_jurisdiction", entity_id=code,
                 before=None if before is None else {"area_km2": round(before, 3)},
                 after={"area_km2": round(area, 3)})
    session.commit()


def can_enter_values(scope: Scope) -> bool:
    """Load targets and enter values/baselines: bureau and admin (and the CLI operator)."""
    return scope.role in EDITORS


def _require_editor(scope: Scope) -> None:
    if not can_enter_values(scope):
        raise Forbidden("只有发改局或管理员可以维护规划目标。")


def parent_code(session: Session, code: str) -> str | None:
    """The parent of jurisdiction ``code`` (a zone's district), or ``None``."""
    jurisdiction = session.get(TargetJurisdiction, code)
    return jurisdiction.parent_code if jurisdiction else None
