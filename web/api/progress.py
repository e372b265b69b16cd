"""``/api/v1/progress/missing``: the month's not-reported list (本月未上报), by town, scoped."""
from __future__ import annotations

from flask import jsonify, request

from registry import periods, permissions, unreported
from registry.filters import ProjectFilters
from web import auth, database
from web.api import bp, openapi


@bp.get("/progress/missing")
def missing_api():
    scope = auth.current_scope()
    auth.require(permissions.can_view_reports(scope))
    period = periods.parse(request.args.get("period"))
    groups = unreported.not_reported(database.session(), scope, period, ProjectFilters.parse(request.args))
    return jsonify({"period": period, "total": unreported.count(groups), "towns": groups})


openapi.register_paths({"/api/v1/progress/missing": {"get": {
    "summary": "本月未上报：在建（及前期手续）项目中该月尚无进度上报的，按镇街分组",
    "parameters": [{"name": "period", "in": "query", "required": False,
                    "description": "上报月份 YYYY-MM（默认本月）",
                    "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}}] + openapi.FILTERS,
    "responses": {"200": {"description": "period, total, towns[{town_code, town_name, projects[…]}]",
                          "content": {"application/json": {"schema": {"type": "object", "properties": {
                              "period": {"type": "string"}, "total": {"type": "integer"},
                              "towns": {"type": "array", "items": {"type": "object"}}}}}}},
                  "400": openapi.ERRORS["400"]}}}})
