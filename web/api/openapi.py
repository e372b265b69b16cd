"""``GET /api/v1/openapi.json``: the OpenAPI 3 description of every ``/api/v1`` route.

Kept as data beside the routes; a test checks that every rule under /api/v1 appears here.
Helpers adding routes add their path to ``PATHS`` (or ``register_paths`` from their module).
"""
from __future__ import annotations

from flask import jsonify

from registry import fields
from registry.browse import DEFAULT_PER_PAGE, MAX_PER_PAGE, SORTABLE
from registry.figures import GROUPINGS
from registry.vocab import DOMAINS, STAGES
from web.api import bp


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "成功") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {status: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
          for status, text in (("400", "参数错误"), ("401", "未登录"), ("403", "无权限"),
                               ("404", "不存在或无权查看"),
                               ("503", "数据库暂时不可用（带 Retry-After）"))}

FILTERS = [
    _query("town", "镇街代码（9 位）：在该镇街有份额的项目"),
    _query("domain", "领域代码或中文名", {"type": "string", "enum": list(DOMAINS)}),
    _query("stage", "项目阶段代码或中文名", {"type": "string", "enum": list(STAGES)}),
    _query("year", "年份（口径见 year_of）", {"type": "integer"}),
    _query("year_of", "年份口径：planned_start 计划开工（无则取项目代码中的年份，默认）、actual_start 实际开工、"
           "actual_end 实际竣工", {"type": "string", "enum": ["planned_start", "actual_start", "actual_end"],
                                 "default": "planned_start"}),
    _query("is_key", "重点项目：true 只要重点项目，false 只要非重点项目", {"type": "boolean"}),
    _query("bbox", "范围 west,south,east,north（EPSG:4326）"),
    _query("q", "在名称、代码、建设单位、地址中搜索"),
]
DISTRICT = _query("district", "区县代码（6 位）")
FEATURE_COLLECTION = {"description": "GeoJSON FeatureCollection（EPSG:4326，流式输出）",
                      "content": {"application/geo+json": {"schema": _ref("FeatureCollection")}}}

PATHS: dict[str, dict] = {
    "/api/v1/projects": {"get": {
        "summary": "项目列表（按权限范围、筛选、排序、分页）",
        "parameters": FILTERS + [
            _query("sort", "排序字段，前加 - 为降序", {"type": "string", "enum": [
                p + f for f in SORTABLE for p in ("", "-")], "default": "-updated_at"}),
            _query("page", "页码，从 1 开始", {"type": "integer", "minimum": 1, "default": 1}),
            _query("per_page", "每页条数", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                                         "default": DEFAULT_PER_PAGE})],
        "responses": {"200": _json(_ref("ProjectPage")), "400": ERRORS["400"]}}},
    "/api/v1/projects/{id}": {"get": {
        "summary": "单个项目（含几何与镇街份额）；ETag 为项目版本",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
                       {"name": "If-None-Match", "in": "header", "required": False,
                        "schema": {"type": "string"}}],
        "responses": {"200": {**_json(_ref("ProjectDetail")),
                              "headers": {"ETag": {"schema": {"type": "string"}}}},
                      "304": {"description": "未修改"}, "404": ERRORS["404"]}}},
    "/api/v1/projects.geojson": {"get": {
        "summary": "项目 GeoJSON（流式 FeatureCollection）", "parameters": FILTERS,
        "responses": {"200": FEATURE_COLLECTION, "400": ERRORS["400"]}}},
    "/api/v1/towns": {"get": {
        "summary": "镇街及其统计（投资按份额分摊）", "parameters": [DISTRICT],
        "responses": {"200": _json({"type": "object", "properties": {
            "items": {"type": "array", "items": _ref("TownFigures")}, "total": {"type": "integer"}}}),
            "400": ERRORS["400"]}}},
    "/api/v1/towns.geojson": {"get": {
        "summary": "镇街边界（属性为统计数据）", "parameters": [DISTRICT],
        "responses": {"200": FEATURE_COLLECTION, "400": ERRORS["400"]}}},
    "/api/v1/stats": {"get": {
        "summary": "按镇街、领域、阶段、年份（口径 year_of）或上报月份（month：累计完成投资与本月新增）汇总",
        "parameters": [{"name": "group_by", "in": "query", "required": True,
                        "schema": {"type": "string", "enum": list(GROUPINGS)}}] + FILTERS + [
            _query("period_from", "group_by=month：起始月份 YYYY-MM（默认截止月份前 11 个月）",
                   {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}),
            _query("period_to", "group_by=month：截止月份 YYYY-MM（默认本月）",
                   {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"})],
        "responses": {"200": _json({"type": "object", "properties": {
            "group_by": {"type": "string"}, "year_of": {"type": "string"},
            "period_from": {"type": "string"}, "period_to": {"type": "string"},
            "items": {"type": "array", "items": {"anyOf": [_ref("Stat"), _ref("MonthStat")]}},
            "totals": _ref("Totals")}}), "400": ERRORS["400"]}}},
    "/api/v1/openapi.json": {"get": {
        "summary": "本文档", "security": [], "responses": {"200": _json({"type": "object"})}}},
    "/api/v1/health": {"get": {
        "summary": "服务存活检查（不查询数据库，无需登录）", "security": [],
        "responses": {"200": _json({"type": "object", "properties": {
            "status": {"type": "string", "enum": ["ok"]}}})}}},
    "/api/v1/health/ready": {"get": {
        "summary": "就绪检查：数据库可用（无需登录；数据库不可用时 503 并带 Retry-After）", "security": [],
        "responses": {"200": _json({"type": "object", "properties": {
            "status": {"type": "string", "enum": ["ok"]}, "database": {"type": "string", "enum": ["ok"]}}}),
            "503": ERRORS["503"]}}},
}

_MONEY = {"type": "number", "description": "万元"}
_NULLABLE_MONEY = {"type": "number", "nullable": True, "description": "万元"}
_SCHEMA_OF_TYPE = {"bigint": {"type": "integer"}, "integer": {"type": "integer"},
                   "numeric": {"type": "number"}, "double precision": {"type": "number"},
                   "boolean": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
                   "timestamp with time zone": {"type": "string", "format": "date-time"},
                   "text[]": {"type": "array", "items": {"type": "string"}}}
_ENUMS = {"stage": list(STAGES)}


def field_schema(field: fields.Field) -> dict:
    """The JSON schema of a declared field's value in the API (its label as the description)."""
    schema = dict(_SCHEMA_OF_TYPE.get(field.sql_type) or _SCHEMA_OF_TYPE.get(field.sql_type.split("(")[0])
                  or {"type": "string"}, description=field.label)
    if field.name in _ENUMS:
        schema["enum"] = _ENUMS[field.name]
    if not field.not_null:
        schema["nullable"] = True
    return schema


def project_schemas(declaration: fields.Declaration) -> tuple[dict, dict]:
    """The properties of ``Project`` (a list item) and those only ``ProjectDetail`` adds."""
    def schemas(names: tuple[str, ...]) -> dict:
        return {name: field_schema(declaration.by_name[name]) for name in names}
    # registry.browse.project_dict adds the labels and the primary town's name to the fields
    listed = {**schemas(declaration.list_fields), "domain_label": {"type": "string"},
              "stage_label": {"type": "string"}, "town_name": {"type": "string", "nullable": True}}
    detail = {**schemas(declaration.names("detail", without=("list",))),
              "geometry": {"type": "object", "description": "GeoJSON 几何（EPSG:4326）"},
              "towns": {"type": "array", "items": _ref("TownShare")}}
    return listed, detail


_PROJECT, _DETAIL_ONLY = project_schemas(fields.PROJECT)
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string", "description": "中文说明"},
            "details": {"nullable": True}}}}},
    "Project": {"type": "object", "properties": _PROJECT},
    "ProjectPage": {"type": "object", "properties": {
        "items": {"type": "array", "items": _ref("Project")}, "total": {"type": "integer"},
        "page": {"type": "integer"}, "per_page": {"type": "integer"}, "pages": {"type": "integer"},
        "sort": {"type": "string"}}},
    "TownShare": {"type": "object", "properties": {
        "code": {"type": "string"}, "name": {"type": "string"},
        "share": {"type": "number", "description": "0–1，各镇街之和为 1"},
        "length_km": {"type": "number", "nullable": True}, "area_km2": {"type": "number", "nullable": True},
        "total_investment": _MONEY, "completed_investment": _MONEY}},
    "ProjectDetail": {"allOf": [_ref("Project"), {"type": "object", "properties": _DETAIL_ONLY}]},
    "TownFigures": {"type": "object", "properties": {
        "code": {"type": "string"}, "name": {"type": "string"}, "district_code": {"type": "string"},
        "area_km2": {"type": "number", "description": "椭球面积"},
        "project_count": {"type": "integer"}, "total_investment": _MONEY, "completed_investment": _MONEY,
        "density": {"type": "number", "description": "万元/km²"},
        "completion_rate": {"type": "number", "nullable": True},
        "by_stage": _COUNTS, "by_domain": _COUNTS,
        "pipeline_km": {"type": "object", "additionalProperties": {"type": "number"},
                        "description": "线状项目在镇街内的长度（km），按子类"}}},
    "Stat": {"type": "object", "properties": {
        "key": {}, "label": {"type": "string"}, "project_count": {"type": "integer"},
        "total_investment": _MONEY, "completed_investment": _MONEY,
        "completion_rate": {"type": "number", "nullable": True}}},
    "MonthStat": {"type": "object", "description": "group_by=month 的一行：某上报月份", "properties": {
        "key": {"type": "string", "description": "YYYY-MM"}, "label": {"type": "string"},
        "completed_investment": {**_MONEY, "description": "累计完成投资（万元，各项目截至该月最近一期上报）"},
        "increase": {**_MONEY, "description": "本月完成投资 = 本月累计 − 上月累计（万元）"},
        "project_count": {"type": "integer", "description": "有累计数的项目"},
        "reported_count": {"type": "integer", "description": "该月有上报的项目"},
        "by_domain": {"type": "object", "additionalProperties": _ref("MonthFigure")},
        "by_town": {"type": "object", "additionalProperties": _ref("MonthFigure"),
                    "description": "按镇街（按份额分摊）"}}},
    "MonthFigure": {"type": "object", "properties": {"completed_investment": _MONEY, "increase": _MONEY}},
    "Totals": {"type": "object", "properties": {
        "project_count": {"type": "integer"}, "town_count": {"type": "integer"},
        "total_investment": _MONEY, "equipment_investment": _MONEY, "completed_investment": _MONEY,
        "completion_rate": {"type": "number", "nullable": True}, "key_project_count": {"type": "integer"}}},
    "FeatureCollection": {"type": "object", "required": ["type", "features"], "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"type": "object"}}}},
}


def register_paths(paths: dict[str, dict], schemas: dict[str, dict] | None = None) -> None:
    """Add other modules' routes to the document (called at their import time)."""
    for path, operations in paths.items():
        PATHS.setdefault(path, {}).update(operations)
    SCHEMAS.update(schemas or {})


def document() -> dict:
    """The OpenAPI 3.0 document."""
    return {"openapi": "3.0.3",
            "info": {"title": "设备更新项目库 API", "version": "1",
                     "description": "金额单位：万元；几何：EPSG:4326。town 角色只能看到本镇街的项目与份额。"},
            "servers": [{"url": "/"}], "paths": PATHS, "components": {"schemas": SCHEMAS}}


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())
