"""``GET /api/v1/map/tiles/<z>/<x>/<y>.mvt``: the projects of the map as vector tiles
(registry.map_tiles), for web/static/js/project_map.js on large registries.

Signed-in only (the app's gate) and scoped like the map. ``Cache-Control: private, no-cache`` with
an ETag from the change stamp, scope and filters: the browser keeps each tile and asks again
with ``If-None-Match``; an unchanged registry answers 304 without building anything.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from registry.map_tiles import TileRequest, project_tile, tile_etag
from web import database
from web.api import openapi
from web.auth import current_scope

bp = Blueprint("vector_tiles", __name__, url_prefix="/api/v1")
MVT = "application/vnd.mapbox-vector-tile"


@bp.get("/map/tiles/<int:z>/<int:x>/<int:y>.mvt")
def project_tiles(z: int, x: int, y: int):
    """Query: ``domains``, ``stage``, ``town`` as for ``/map/features``."""
    tile = TileRequest.parse(z, x, y, request.args, max_features=current_app.config.get("MAP_TILE_MAX_FEATURES"))
    session, scope = database.session(), current_scope()
    etag = tile_etag(session, scope, tile)
    headers = {"Cache-Control": "private, no-cache", "Vary": "Cookie, Authorization"}
    if etag is not None:
        headers["ETag"] = f'"{etag}"'
        if etag in request.if_none_match:
            return Response(status=304, headers=headers)
    data = project_tile(session, scope, tile, use_cache=current_app.config.get("MAP_TILE_CACHE", True),
                        counter=database.grid_engine())
    return Response(data, mimetype=MVT, headers=headers)


def _parameter(name: str, where: str, description: str, kind: str = "string", required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required, "description": description,
            "schema": {"type": kind, **({"minimum": 0} if kind == "integer" else {})}}


OPENAPI_PATHS = {
    "/api/v1/map/tiles/{z}/{x}/{y}.mvt": {"get": {
        "summary": "地图的项目矢量瓦片（Mapbox Vector Tile，Web 墨卡托）：项目少或放大时为要素（图层 projects），"
                   "项目多时为网格汇总（图层 clusters，含各阶段数量）；ETag 随数据变化",
        "parameters": [
            _parameter("z", "path", "缩放级别 0–22", "integer", True),
            _parameter("x", "path", "瓦片列号 0 – 2^z−1", "integer", True),
            _parameter("y", "path", "瓦片行号 0 – 2^z−1", "integer", True),
            _parameter("domains", "query", "逗号分隔的领域代码；缺省为全部，空字符串为无"),
            _parameter("stage", "query", "项目阶段（代码或中文）"),
            _parameter("town", "query", "9 位镇街代码：只含与该镇街有份额的项目")],
        "responses": {
            "200": {"description": "MVT 瓦片（无项目时为空）",
                    "content": {MVT: {"schema": {"type": "string", "format": "binary"}}}},
            "304": {"description": "瓦片未变（If-None-Match 与 ETag 相同）"},
            "400": {"description": "参数错误或瓦片超出范围（统一错误格式）"}}}},
}
openapi.register_paths(OPENAPI_PATHS)
