"""Editing projects one at a time (DESIGN §2, §5): create, update, soft delete, restore.

Input is the import template's English keys (``registry.template``) with plain JSON values, plus
``geometry`` (GeoJSON) and ``crs``; every record is checked by ``registry.validation`` exactly as
an imported row would be, then against the database (district, unique code) and the life-cycle
rules (``registry.lifecycle``). Each service checks permissions, re-matches towns when the
geometry changes, writes an audit entry (before → after, changed fields only) and commits.

No lost updates: writers send the version they read; a different stored version raises
``StaleVersion``. The row is locked (``FOR UPDATE``) before the comparison so two writers holding
the same version cannot both pass it, and the mapper's ``version_id_col`` is the backstop.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Mapping

import shapely
import shapely.geometry
from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from registry import sqlfiles
from registry.matching import match_projects
from registry import audit, fields, lifecycle, permissions
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleVersion, geometry_input
from registry.district_fit import partly_outside_message, resolve_district
from registry.models import Project
from registry.scope import Scope, project_clause
from registry.project_input import (GEOMETRY_KEYS, INPUT_KEYS, current_record, geojson_wkt,
                                    input_record, validated)

# What an audit entry shows of a project, beside the geometry (WKT, EPSG:4326): registry.fields.
SNAPSHOT_FIELDS = fields.SNAPSHOT_FIELDS
# What a person records (the geometry apart): the fields an import writes.
_DATA_FIELDS = tuple(name for name in fields.IMPORTED if not fields.BY_NAME[name].is_geometry)


def create_project(session: Session, *, scope: Scope, values: Mapping, actor: str) -> dict:
    """Register one project; ``values`` are template keys (+ ``geometry``, ``crs``,
    optional ``district_code``). Returns ``{"id", "version", "warnings"}``."""
    if not permissions.can_create_project(scope):
        raise Forbidden("没有登记项目的权限")
    values = dict(values)
    district = resolve_district(session, values.pop("district_code", None) or None)
    typed, warnings = validated(session, input_record(values))
    lifecycle.apply_stage_rules(None, typed)
    measures = _check_geometry(session, typed["geom"], district)
    _check_code_free(session, typed["code"], None)
    project = Project(district_code=district, created_by=actor, updated_by=actor,
                      geom=from_shape(typed["geom"], srid=4326), **measures,
                      **{f: typed[f] for f in _DATA_FIELDS})
    session.add(project)
    _flush(session, typed["code"])
    match_projects(session, project_ids=[project.id])
    session.refresh(project)
    audit.record(session, actor=actor, action="create", entity="project", entity_id=project.id,
                 district_code=district, after=snapshot(project),
                 details={"warnings": warnings} if warnings else None)
    session.commit()
    return {"id": project.id, "version": project.version, "warnings": warnings}


def update_project(session: Session, project_id: int, *, scope: Scope, changes: Mapping,
                   expected_version: int | None, actor: str, reason: str | None = None) -> dict:
    """Change some fields of a project (a PATCH): the rest keep their stored values.

    ``expected_version`` is the version the writer read (``None`` refuses: a write must say
    which version it changes). Returns ``{"id", "version", "warnings", "changed"}``.
    """
    if not permissions.can_edit_project(scope):
        raise Forbidden("没有修改项目的权限")
    project = locked_project(session, project_id, scope)
    check_version(project, expected_version)
    unknown = sorted(set(changes) - INPUT_KEYS)
    if unknown:
        raise InvalidInput("无法识别的字段：" + "、".join(unknown), {"fields": unknown})
    if "crs" in changes and not any(k in changes for k in ("geometry", "wkt", "lng", "lat")):
        raise InvalidInput("坐标系（crs）须与几何（geometry、几何WKT 或经纬度）一起提交", {"field": "crs"})
    record = current_record(project)
    if any(k in changes for k in GEOMETRY_KEYS):
        for key in ("wkt", "lng", "lat"):
            record.pop(key, None)
    record.update(input_record(changes))
    typed, warnings = validated(session, record)
    result = _apply(session, project, typed, geometry_changed=any(k in changes for k in GEOMETRY_KEYS),
                    actor=actor, action="update", reason=reason, warnings=warnings)
    session.commit()
    return result


def delete_project(session: Session, project_id: int, *, scope: Scope, expected_version: int | None,
                   actor: str, reason: str | None = None) -> dict:
    """Soft delete: the project disappears from lists, maps and figures but stays restorable."""
    if not permissions.can_edit_project(scope):
        raise Forbidden("没有删除项目的权限")
    project = locked_project(session, project_id, scope)
    check_version(project, expected_version)
    before = snapshot(project)
    project.deleted_at = func.now()
    project.updated_by, project.updated_at = actor, func.now()
    _flush(session, project.code)
    session.refresh(project)
    audit.record(session, actor=actor, action="delete", entity="project", entity_id=project.id,
                 district_code=project.district_code, before={"deleted_at": before["deleted_at"]},
                 after={"deleted_at": snapshot(project)["deleted_at"]},
                 details={"reason": reason} if reason else None)
    session.commit()
    return {"id": project.id, "version": project.version}


def restore_project(session: Session, project_id: int, *, scope: Scope, actor: str) -> dict:
    """Bring a soft-deleted project back (bureau and admin)."""
    if not permissions.can_edit_project(scope):
        raise Forbidden("没有恢复项目的权限")
    project = session.scalars(select(Project).where(Project.id == project_id, project_clause(scope))
                              .with_for_update().execution_options(populate_existing=True)).first()
    if project is None:
        raise NotFound(f"项目 {project_id} 不存在或无权查看", {"id": project_id})
    if project.deleted_at is None:
        raise Conflict(f"项目 {project_id} 未被删除，无需恢复", {"id": project_id})
    before = snapshot(project)["deleted_at"]
    project.deleted_at = None
    project.updated_by, project.updated_at = actor, func.now()
    _flush(session, project.code)
    session.refresh(project)
    audit.record(session, actor=actor, action="restore", entity="project", entity_id=project.id,
                 district_code=project.district_code, before={"deleted_at": before},
                 after={"deleted_at": None})
    session.commit()
    return {"id": project.id, "version": project.version}


def locked_project(session: Session, project_id: int, scope: Scope) -> Project:
    """The visible, not deleted project, locked for this transaction; NotFound otherwise."""
    project = session.scalars(select(Project).where(
        Project.id == project_id, Project.deleted_at.is_(None), project_clause(scope))
        .with_for_update().execution_options(populate_existing=True)).first()
    if project is None:
        raise NotFound(f"项目 {project_id} 不存在或无权查看", {"id": project_id})
    return project


def check_version(project: Project, expected_version: int | None) -> None:
    """Refuse a write based on another version than the stored one (lost-update guard)."""
    if expected_version is None:
        raise InvalidInput("缺少版本号：请先读取项目，再带上所读的版本提交修改", {"field": "version"})
    if int(expected_version) != project.version:
        raise StaleVersion(
            f"项目已被他人修改（当前版本 {project.version}，你提交的是版本 {expected_version}），"
            "请刷新后重新修改", {"current_version": project.version, "your_version": int(expected_version)})


def apply_values(session: Session, project: Project, typed: dict, *, actor: str, action: str,
                 reason: str | None = None, details: dict | None = None,
                 reported_completed: Decimal | None = None) -> dict:
    """Write already-validated values to a locked project through the stage rules (used by
    progress reports); audits the change like ``update_project`` but leaves the commit to the
    caller. ``result["changed"]`` is empty when nothing changed (and nothing was audited)."""
    return _apply(session, project, typed, geometry_changed=False, actor=actor, action=action,
                  reason=reason, warnings=[], details=details, reported_completed=reported_completed)


def _apply(session: Session, project: Project, typed: dict, *, geometry_changed: bool, actor: str,
           action: str, reason: str | None, warnings: list, details: dict | None = None,
           reported_completed: Decimal | None = None) -> dict:
    before = snapshot(project)
    transition = lifecycle.apply_stage_rules(
        {f: getattr(project, f) for f in ("stage", "stage_before_suspension", "actual_start",
                                          "actual_end", "completed_investment")},
        typed, reason=reason, reported_completed=reported_completed)
    if typed.get("code") is not None and typed["code"] != project.code:
        _check_code_free(session, typed["code"], project.id)
    for field in _DATA_FIELDS:
        if field in typed and field != "source_crs" and _differs(getattr(project, field), typed[field]):
            setattr(project, field, typed[field])
    if geometry_changed and not to_shape(project.geom).equals_exact(typed["geom"], 1e-9):
        for name, value in _check_geometry(session, typed["geom"], project.district_code).items():
            setattr(project, name, value)
        project.geom = from_shape(typed["geom"], srid=4326)
        project.source_crs = typed["source_crs"]
    else:
        geometry_changed = False
    changed = [f for f in SNAPSHOT_FIELDS if f in typed and _differs(before[f], _plain(getattr(project, f)))]
    if geometry_changed:
        changed.append("geometry")
    if not changed:
        return {"id": project.id, "version": project.version, "warnings": warnings, "changed": []}
    project.updated_by, project.updated_at = actor, func.now()
    _flush(session, project.code)
    if geometry_changed:
        match_projects(session, project_ids=[project.id])
    session.refresh(project)
    after = snapshot(project)
    changed = [f for f in (*SNAPSHOT_FIELDS, "geometry") if before[f] != after[f]]
    extra = dict(details or {})
    if transition.backward:
        extra["reason"] = transition.reason
    elif reason:
        extra.setdefault("reason", reason)
    if warnings:
        extra["warnings"] = warnings
    audit.record(session, actor=actor, action=action, entity="project", entity_id=project.id,
                 district_code=project.district_code, before={f: before[f] for f in changed},
                 after={f: after[f] for f in changed}, details=extra or None)
    return {"id": project.id, "version": project.version, "warnings": warnings, "changed": changed}


def _flush(session: Session, code: str) -> None:
    try:
        session.flush()
    except StaleDataError as exc:  # another writer won the row between our read and write
        session.rollback()
        raise StaleVersion("项目已被他人修改，请刷新后重新修改") from exc
    except IntegrityError as exc:
        session.rollback()
        if "uq_projects_code" in str(exc.orig):
            raise Conflict(f"项目代码 {code} 已被其他项目使用", {"field": "code"}) from exc
        raise InvalidInput("数据不满足约束，请核对金额与阶段", {"constraint": str(exc.orig).splitlines()[0]}) from exc


def _differs(old, new) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return (None if old is None else Decimal(str(old))) != (None if new is None else Decimal(str(new)))
    if old in (None, "", []) and new in (None, "", []):
        return False
    return old != new


def snapshot(project: Project) -> dict:
    """JSON-ready values of the fields people care about; geometry as WKT (EPSG:4326, 1e-7°)."""
    out = {f: _plain(getattr(project, f)) for f in SNAPSHOT_FIELDS}
    out["geometry"] = shapely.to_wkt(to_shape(project.geom), rounding_precision=7) if project.geom is not None else None
    return out


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return list(value)
    return value


def _check_geometry(session: Session, geom, district_code: str) -> dict:
    """Refuse geometry outside the district (saying when lng/lat look swapped); geodesic measures."""
    row = _measures(session, geom, district_code)
    if row.inside is None:
        raise InvalidInput(f"行政区 {district_code} 尚无边界，无法核对项目位置", {"field": "geometry"})
    if not row.inside:
        message = ("位置在本行政区之外，经纬度可能填反了" if row.swapped
                   else "位置不在本行政区范围内，请核对坐标和坐标系")
        raise InvalidInput(f"几何（geometry）：{message}",
                           {"field": "geometry", "kind": "swapped_coords" if row.swapped else "outside_jurisdiction"})
    return {"length_km": row.length_km, "area_km2": row.area_km2}


def _check_code_free(session: Session, code: str, own_id: int | None) -> None:
    other = session.scalar(select(Project.id).where(Project.code == code, Project.id != (own_id or 0)))
    if other is not None:
        raise Conflict(f"项目代码 {code} 已被项目 {other} 使用（项目代码须唯一）", {"field": "code", "id": other})


def preview_towns(session: Session, *, geometry=None, wkt: str | None = None, crs: str | None = "WGS84",
                  district_code: str | None = None) -> dict:
    """The towns and shares a drawn or typed geometry would get, without saving (form preview).

    ``geometry`` is GeoJSON (or ``wkt`` WKT) in ``crs`` (WGS84, CGCS2000, GCJ02 or BD09). Returns the geometry in
    WGS84 (GeoJSON), whether it lies in the district, and ``towns`` (largest share first).
    """
    from geo.crs import to_wgs84
    from geo.matching import preview_shares
    for field, value, kind in (("geometry", geometry, dict), ("wkt", wkt, str), ("crs", crs, str)):
        if value is not None and not isinstance(value, kind):
            raise InvalidInput(f"{field} 的类型不对（应为{'对象' if kind is dict else '文本'}）", {"field": field})
    if geometry is None and not (wkt or "").strip():
        raise InvalidInput("缺少几何（geometry）：请在地图上标出位置或输入坐标", {"field": "geometry"})
    try:
        geom = shapely.from_wkt(geojson_wkt(geometry) if geometry is not None else wkt)
    except shapely.errors.GEOSException as exc:
        raise InvalidInput(f"几何WKT 无法解析：{(wkt or '')[:60]}", {"field": "wkt"}) from exc
    except NotImplementedError as exc:  # GEOS reads no curves (CIRCULARSTRING, COMPOUNDCURVE, …)
        raise InvalidInput("几何WKT 不支持曲线（CIRCULARSTRING 等），请改为折线", {"field": "wkt"}) from exc
    west, south, east, north = geom.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput("几何（geometry）：坐标超出经纬度范围，经纬度可能填反了", {"field": "geometry"})
    with geometry_input():
        geom = to_wgs84(geom, crs or "WGS84")
    district = resolve_district(session, district_code)
    checked = _measures(session, geom, district)
    outside = partly_outside_message(checked.outside_km, checked.outside_km2) if checked.inside else None
    return {"geometry": shapely.geometry.mapping(geom), "district_code": district,
            "inside": bool(checked.inside), "swapped": bool(checked.swapped) and not checked.inside,
            "length_km": checked.length_km, "area_km2": checked.area_km2,
            "outside_km": checked.outside_km, "outside_km2": checked.outside_km2,
            "warnings": [{"kind": "partly_outside", "message": outside}] if outside else [],
            "towns": preview_shares(session, geom, district_code=district)}


def _measures(session: Session, geom, district_code: str):
    ewkb = shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True)
    return session.execute(sqlfiles.load("check_project_geometry"),
                           {"geom": ewkb, "district_code": district_code}).one()
