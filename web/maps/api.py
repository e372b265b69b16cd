"""``GET /api/v1/map/features``: the projects of one map view (see registry.map_view)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from registry.filters import ProjectFilters
from registry.map_view import search_features, view_features
from web import database
from web.api import openapi
from web.identity import current_scope

bp = Blueprint("maps_api", __name__, url_prefix="/api/v1")


@bp.get("/map/features")
def features():
    """Query: ``bbox`` (required), ``zoom`` (required), ``domains``, ``crs`` and the project
    list's filters (``town``, ``domain``, ``stage``, ``year``, ``year_of``, ``is_key``, ``q``)."""
    args = request.args
    collection = view_features(database.session(), current_scope(), ProjectFilters.parse(args),
                               zoom=args.get("zoom"), domains=args.get("domains"), crs=args.get("crs"),
                               max_features=current_app.config.get("MAP_MAX_FEATURES"))
    response = jsonify(collection)
    response.mimetype = "application/geo+json"
    return response


@bp.get("/map/search")
def search():
    """Query: ``q`` (code or name, required), ``town``, ``crs``: the map's search box."""
    args = request.args
    collection = search_features(database.session(), current_scope(), q=args.get("q"), town=args.get("town"),
                                 crs=args.get("crs"))
    response = jsonify(collection)
    response.mimetype = "application/geo+json"
    return response


def _parameter(name: str, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "string"}}


OPENAPI_PATHS = {
    "/api/v1/map/features": {"get": {
        "summary": "地图当前视野内的项目：项目少或放大时为要素，项目多时为网格汇总（由 PostGIS 聚合）",
        "parameters": [
            _parameter("bbox", "west,south,east,north（地图坐标；crs=gcj02 时为 GCJ-02）", True),
            _parameter("zoom", "地图缩放级别 0–22，决定汇总网格大小", True),
            _parameter("domains", "逗号分隔的领域代码；缺省为全部，空字符串为无"),
            _parameter("stage", "项目阶段（代码或中文）"),
            _parameter("town", "9 位镇街代码：只含与该镇街有份额的项目"),
            _parameter("domain", "领域（代码或中文），与项目列表相同"),
            _parameter("year", "年份，口径见 year_of"),
            _parameter("year_of", "年份口径：planned_start（默认）、actual_start、actual_end"),
            _parameter("is_key", "重点项目：true 或 false"),
            _parameter("q", "名称、代码、建设单位或地址中的文字"),
            _parameter("crs", "wgs84（默认）或 gcj02：输入范围与输出几何的坐标系（高德底图）")],
        "responses": {
            "200": {"description": "GeoJSON FeatureCollection，附 mode（features | clusters）与 truncated。"
                                   "features：properties 含 id, code, name, domain, stage, total_investment, "
                                   "completed_investment, length_km, area_km2, towns（[{code, name, share}]）；"
                                   "clusters：每个网格一个点，properties 含 cluster, count, stage（最多的阶段）, by_stage",
                    "content": {"application/geo+json": {"schema": {"type": "object"}}}},
            "400": {"description": "参数错误（统一错误格式）"}}}},
    "/api/v1/map/search": {"get": {
        "summary": "地图搜索框：代码或名称包含 q 的项目（最多 10 个，完全相同的代码在前），与 /map/features 的要素同形",
        "parameters": [_parameter("q", "项目代码或名称（部分即可）", True),
                       _parameter("town", "9 位镇街代码：只含与该镇街有份额的项目"),
                       _parameter("crs", "wgs84（默认）或 gcj02：输出几何的坐标系（高德底图）")],
        "responses": {
            "200": {"description": "GeoJSON FeatureCollection（mode 为 features）",
                    "content": {"application/geo+json": {"schema": {"type": "object"}}}},
            "400": {"description": "缺少 q 或参数错误（统一错误格式）"}}}},
}
openapi.register_paths(OPENAPI_PATHS)
