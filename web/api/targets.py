"""``GET /api/v1/targets[?as_of=&district=]``: plan-target progress (DESIGN §5a), scoped.

The same JSON as ``eqreg targets report --format json``; a town official gets their towns' part.
A city's or province's target (seen by its viewers and by whole-registry accounts) adds ``level``,
``by_district`` and its 区县合计 ``district_sum`` (``registry.target_levels``).
"""
from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from registry import target_report
from registry.errors import InvalidInput
from web import database
from web.api import openapi, response_cache
from web.identity import current_scope

bp = Blueprint("targets_api", __name__, url_prefix="/api/v1")
_JURISDICTION = re.compile(r"^[0-9A-Za-z_-]{1,12}$")


def district_param(value: str | None) -> str | None:
    """A district (6 digits), zone, city (4 digits) or province (2 digits) code from a query
    string; bad input → ``InvalidInput``."""
    value = (value or "").strip() or None
    if value is not None and not _JURISDICTION.match(value):
        raise InvalidInput(f"辖区代码无效：{value}（区县为 6 位数字，地市 4 位，省 2 位，功能区为字母代码）",
                           {"parameter": "district", "value": value})
    return value


@bp.get("/targets")
@response_cache.cached_json
def list_targets():
    as_of = target_report.parse_as_of(request.args.get("as_of"))
    result = target_report.report(database.session(), current_scope(), as_of=as_of,
                                  district=district_param(request.args.get("district")))
    return jsonify(result.as_json())


_NUMBER_MAP = {"type": "object", "additionalProperties": {"type": "number"}}
TARGET_SCHEMA = {"type": "object", "properties": {
    "id": {"type": "string"},
    "jurisdiction": {"type": "string", "description": "区县代码、功能区代码、地市代码（4 位）或省代码（2 位）"},
    "text": {"type": "string", "description": "规划原文"},
    "metric": {"type": "string", "enum": ["count", "sum_total_investment", "sum_equipment_investment",
                                          "sum_completed_investment", "sum_quantity", "sum_length_km",
                                          "growth_vs_baseline", "reported"]},
    "unit": {"type": "string", "nullable": True}, "threshold": {"type": "number"},
    "deadline": {"type": "string", "format": "date"},
    "window": {"type": "string", "enum": ["cumulative", "per_year"]},
    "value": {"type": "number", "nullable": True, "description": "公里、万元保留两位小数；增长率为小数"},
    "progress": {"type": "number", "nullable": True, "description": "value ÷ threshold"},
    "status": {"type": "string", "enum": ["done", "on_track", "behind", "overdue", "needs_baseline", "no_data"],
               "description": "已完成/进度正常/滞后/已逾期/待录入基数/暂无数据"},
    "years": {**_NUMBER_MAP, "description": "per_year 目标的各年数值"},
    "by_town": {**_NUMBER_MAP, "description": "9 位镇街代码 → 该镇街的贡献（个数按主要镇街，其余按份额）"},
    "undated": {"type": "integer", "description": "缺少计数日期的项目数"},
    "unit_mismatch": {"type": "integer", "description": "计量单位与目标不符的项目数"},
    "unmeasured": {"type": "integer", "description": "无法计量长度或数量的项目数"},
    "level": {"type": "string", "enum": ["city", "province"], "description": "地市或省级目标才有"},
    "by_district": {**_NUMBER_MAP, "description": "地市或省级目标：区县代码 → 该区县的贡献"},
    "district_sum": {"type": "object", "nullable": True, "description": "区县合计：各区县同口径目标之和（比例类不相加）",
                     "required": ["threshold", "value", "targets", "districts", "of_districts", "without_value",
                                  "reason"],
                     "properties": {
                         "threshold": {"type": "number", "nullable": True, "description": "区县目标值之和"},
                         "value": {"type": "number", "nullable": True, "description": "区县当前值之和"},
                         "targets": {"type": "array", "items": {"type": "string"}, "description": "同口径的区县目标编号"},
                         "districts": {"type": "integer", "description": "有同口径目标的区县数"},
                         "of_districts": {"type": "integer", "description": "本级在库的区县数"},
                         "without_value": {"type": "integer", "description": "尚无数值的区县目标数"},
                         "reason": {"type": "string", "nullable": True, "enum": ["ratio", "percent", "no_unit", None],
                                    "description": "不相加的原因：ratio 增长率、percent 比例、no_unit 未注明单位的手工填报"}}}}}
TARGET_SCHEMA["required"] = ["id", "jurisdiction", "text", "metric", "unit", "threshold", "deadline", "window",
                             "value", "progress", "status", "by_town", "undated", "unit_mismatch", "unmeasured"]

openapi.register_paths({
    "/api/v1/targets": {"get": {
        "summary": "规划目标进度（DESIGN §5a）：数值、进度、状态、各镇街贡献与数据问题",
        "parameters": [
            {"name": "as_of", "in": "query", "required": False, "description": "统计日期 YYYY-MM-DD（默认今天）",
             "schema": {"type": "string", "format": "date"}},
            {"name": "district", "in": "query", "required": False,
             "description": "区县代码（含其下的功能区）、功能区代码，或地市（4 位）、省（2 位）代码（含其下各区县）",
             "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "成功", "content": {"application/json": {"schema": {
                "type": "object", "required": ["as_of", "targets"], "properties": {
                    "as_of": {"type": "string", "format": "date"},
                    "targets": {"type": "array", "items": {"$ref": "#/components/schemas/Target"}}}}}}},
            "400": openapi.ERRORS["400"], "401": openapi.ERRORS["401"]}}},
}, {"Target": TARGET_SCHEMA})
