"""Turning JSON and form input into validated project values (the import's per-record checks).

``input_record`` takes template keys with plain JSON values (+ GeoJSON ``geometry``) and gives the
text record ``registry.validation.validate_record`` reads; ``validated`` runs it with the
registry's own vocabularies and raises ``InvalidInput`` naming the fields; ``current_record``
turns a stored project back into such a record so a PATCH can be checked as a whole.
"""
from __future__ import annotations

import datetime as dt
from typing import Mapping

import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import shape
from sqlalchemy.orm import Session

from registry import fields
from registry.errors import InvalidInput
from registry.models import Project
from registry.template import BY_KEY, COLUMNS, header_label
from registry.validation import registry_vocabularies, validate_record

GEOMETRY_KEYS = ("geometry", "wkt", "lng", "lat", "crs")
INPUT_KEYS = frozenset(BY_KEY) | {"geometry"}
# Template key → Project attribute where they differ (registry.fields).
ATTRIBUTE = {key: name for key, name in fields.FIELD_OF_TEMPLATE_KEY.items() if key != name}
# Field → the label people see in messages (template headers, plus the few non-template ones).
_LABELS = {"geometry": "几何（geometry）", "reason": "原因", "district_code": "行政区"}


def field_label(key: str) -> str:
    return _LABELS.get(key) or header_label(key)


def current_record(project: Project, *, geometry: bool = True) -> dict[str, str | None]:
    """A stored project as an import record (text, template keys; geometry as WKT in WGS84).

    ``project`` may be any object with the project's attributes (e.g. a result row);
    ``geometry=False`` leaves the location keys out.
    """
    record: dict[str, str | None] = {}
    for column in COLUMNS:
        if column.key in GEOMETRY_KEYS:
            continue
        value = getattr(project, ATTRIBUTE.get(column.key, column.key))
        record[column.key] = _text(value)
    if geometry:
        record["wkt"] = shapely.to_wkt(to_shape(project.geom), rounding_precision=-1)
        record["crs"] = "WGS84"
    return record


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "；".join(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def input_record(values: Mapping) -> dict[str, str | None]:
    """JSON values → the text record ``validate_record`` reads; GeoJSON ``geometry`` → WKT."""
    unknown = sorted(set(values) - INPUT_KEYS)
    if unknown:
        raise InvalidInput("无法识别的字段：" + "、".join(unknown), {"fields": unknown})
    record: dict[str, str | None] = {}
    for key, value in values.items():
        if key == "geometry":
            if value is not None:
                record["wkt"] = geojson_wkt(value)
            continue
        if isinstance(value, (dict,)) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
            raise InvalidInput(f"{field_label(key)}的值格式不对", {"field": key})
        record[key] = _text(value)
    return record


def geojson_wkt(value) -> str:
    try:
        geom = shape(value)
    except Exception as exc:  # shapely raises several kinds for malformed GeoJSON
        raise InvalidInput(f"几何（geometry）不是有效的 GeoJSON 几何：{exc}", {"field": "geometry"}) from exc
    if geom.is_empty:
        raise InvalidInput("几何（geometry）是空的：请在地图上标出位置", {"field": "geometry"})
    return shapely.to_wkt(geom, rounding_precision=-1)


def validated(session: Session, record: dict) -> tuple[dict, list[dict]]:
    domains, funding = registry_vocabularies(session)
    geometry_from_geojson = "wkt" in record
    # The stage's date rules are the life cycle's (registry.lifecycle), checked on change.
    typed, problems = validate_record(record, row=0, domains=domains, funding=funding)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        details = [_problem(p, geometry_from_geojson) for p in errors]
        raise InvalidInput("；".join(p.message for p in errors),
                           {"field": details[0]["field"], "problems": details})
    return typed, [_problem(p, geometry_from_geojson) for p in problems]


_KEY_OF_HEADER = {column.header: column.key for column in COLUMNS}


def _problem(problem, geojson: bool) -> dict:
    out = problem.to_dict()
    del out["row"]
    key = _KEY_OF_HEADER.get(problem.column or "", problem.column)
    if problem.column in ("几何WKT", "经度、纬度"):
        key = "geometry" if geojson else ("wkt" if problem.column == "几何WKT" else "lng")
    out["field"] = key
    return out
