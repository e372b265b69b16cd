"""``/api/v1/rollup``: a province's or city's figures per city and per district, scoped (issue 14)."""
from __future__ import annotations

from flask import jsonify, request

from registry import permissions, rollup as rollups
from registry.filters import ProjectFilters
from web import auth, database
from web.api import bp, openapi, response_cache


@bp.get("/rollup")
@response_cache.cached_json
def rollup():
    scope = auth.current_scope()
    auth.require(permissions.can_view_rollup(scope))  # town officials: 403, audited like every refusal
    jurisdiction = rollups.parse_jurisdiction(request.args.get("level"), request.args.get("code"))
    filters = ProjectFilters.parse(request.args)
    return jsonify(rollups.rollup(database.session(), scope, jurisdiction, filters))


_FIGURES = {"code": {"type": "string"}, "name": {"type": "string"},
            "project_count": {"type": "integer"},
            "total_investment": {"type": "number", "description": "计划总投资（万元）"},
            "completed_investment": {"type": "number", "description": "已完成投资（万元）"},
            "completion_rate": {"type": "number", "nullable": True, "description": "完成率（0–1，无投资时为空）"},
            "area_km2": {"type": "number", "nullable": True},
            "density": {"type": "number", "nullable": True, "description": "投资密度（万元/km²）"}}
_ROW = {"type": "object", "properties": _FIGURES}
_GROUP = {"type": "object", "properties": {**_FIGURES, "district_count": {"type": "integer"}}}
openapi.register_paths({
    "/api/v1/rollup": {"get": {
        "summary": "省、市汇总（逐级汇总：区县 → 市 → 省）：各区县、各市的项目数、计划与完成投资、完成率。"
                   "只含本账号可见的区县；镇街账号无权查看（403）",
        "parameters": [
            {"name": "level", "in": "query", "required": True, "description": "汇总层级：province 省、city 市",
             "schema": {"type": "string", "enum": list(rollups.LEVELS)}},
            {"name": "code", "in": "query", "required": True, "description": "省代码（2 位）或市代码（4 位）",
             "schema": {"type": "string", "pattern": "^[0-9]{2}([0-9]{2})?$"}},
            *openapi.FILTERS],
        "responses": {
            "200": {"description": "成功", "content": {"application/json": {"schema": {"type": "object", "properties": {
                "level": {"type": "string"}, "code": {"type": "string"}, "name": {"type": "string"},
                "province_code": {"type": "string"}, "totals": _GROUP,
                "cities": {"type": "array", "items": _GROUP, "description": "各市（仅省级汇总）"},
                "districts": {"type": "array", "items": {**_ROW, "properties": {
                    **_FIGURES, "city_code": {"type": "string"}}}}}}}}},
            "400": openapi.ERRORS["400"], "403": openapi.ERRORS["403"], "404": openapi.ERRORS["404"]}}},
})
