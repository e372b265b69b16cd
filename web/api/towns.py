"""``/api/v1/towns``, ``/api/v1/towns.geojson`` and ``/api/v1/stats``: figures, scoped."""
from __future__ import annotations

import json
import re

from flask import Response, jsonify, request

from registry import figures
from registry.errors import InvalidInput
from registry.filters import ProjectFilters
from web import auth, database
from web.api import bp, response_cache


def _district_param() -> str | None:
    value = request.args.get("district") or None
    if value is not None and not re.fullmatch(r"\d{6}", value):
        raise InvalidInput(f"区县代码应为 6 位数字：{value}", {"parameter": "district", "value": value})
    return value


@bp.get("/towns")
@response_cache.cached_json
def list_towns():
    items = figures.town_figures(database.session(), auth.current_scope(), district_code=_district_param(),
                                 share=database.grid_engine())
    return jsonify({"items": items, "total": len(items)})


@bp.get("/towns.geojson")
def towns_geojson():
    rows = figures.town_figures(database.session(), auth.current_scope(),
                                district_code=_district_param(), with_geometry=True)

    def chunks():
        # PostGIS wrote each boundary (ST_AsGeoJSON); only the envelope is joined here.
        yield '{"type":"FeatureCollection","features":['
        for i, town in enumerate(rows):
            geometry = town.pop("geometry")
            yield ("," if i else "") + (f'{{"type":"Feature","id":{json.dumps(town["code"])},'
                                        f'"geometry":{geometry},'
                                        f'"properties":{json.dumps(town, ensure_ascii=False)}}}')
        yield "]}"

    # The rows are already read: no request context (nor open transaction) is needed while sending.
    return Response(chunks(), mimetype="application/geo+json")


@bp.get("/stats")
@response_cache.cached_json
def stats():
    group_by = request.args.get("group_by", "")
    filters = ProjectFilters.parse(request.args)
    session, scope = database.session(), auth.current_scope()
    body = {"group_by": group_by}
    months = None
    if group_by == "month":
        months = figures.month_range(request.args.get("period_from"), request.args.get("period_to"))
        body.update(period_from=months[0], period_to=months[1])
    elif group_by == "year":
        body["year_of"] = filters.year_of
    body["items"] = figures.stats(session, scope, group_by, filters, months=months)
    body["totals"] = figures.totals(session, scope, filters)
    return jsonify(body)
