"""Project features for one map view, loaded lazily by the page (never embedded in the HTML).

Few projects in view (or zoomed in): the features themselves. Many: the projects grouped on a
screen-sized grid by PostGIS, so a view of 100k projects costs a few hundred small rows.
"""
from __future__ import annotations

import json

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import sqlfiles
from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from registry.errors import InvalidInput
from registry.filters import ProjectFilters, domain_codes
from registry.scope import Scope

MAX_FEATURES = 1500  # above this many projects in view, send the grid instead
FULL_ZOOM = 16  # from this zoom on, always the features (at most MAX_FEATURES)
CELL_PIXELS = 64  # grid cell size on screen
SEARCH_LIMIT = 10  # projects offered by the map's search box


def view_features(session: Session, scope: Scope, *, bbox: str | None, zoom: str | int | None,
                  domains: str | None = None, stage: str | None = None, town: str | None = None,
                  crs: str | None = None, max_features: int | None = None) -> dict:
    """The projects of one map view as a GeoJSON FeatureCollection.

    ``bbox`` is ``west,south,east,north`` in the map's coordinates (EPSG:4326, or GCJ-02 when
    ``crs`` is ``gcj02``, i.e. the page is drawn over AMap); ``domains`` a comma-separated list of
    domain codes (``None``: all; empty: none). The result has a foreign member ``mode``:
    ``"features"`` (properties ``id, code, name, domain, stage, total_investment,
    completed_investment, length_km, area_km2, towns`` = ``[{code, name, share}]``) or
    ``"clusters"`` (Point per grid cell; properties ``cluster, count, stage`` — the commonest —
    and ``by_stage``), and ``truncated`` when more features matched than were sent.
    ``max_features`` (default ``MAX_FEATURES``, the app's ``MAP_MAX_FEATURES``) is the most
    features sent before the grid is used instead.
    """
    max_features = max_features or MAX_FEATURES
    gcj02 = _parse_crs(crs)
    filters = ProjectFilters.parse({"bbox": bbox, "stage": stage, "town": town})
    if filters.bbox is None:
        raise InvalidInput("缺少参数 bbox（west,south,east,north）", {"parameter": "bbox"})
    zoom_level = _parse_zoom(zoom)
    domain_codes = _parse_domains(domains)
    west, south, east, north = filters.bbox
    if gcj02:  # the page's box is in GCJ-02; the registry's geometry is WGS84
        (west, east), (south, north) = gcj02_to_wgs84([west, east], [south, north])
    if domain_codes == []:
        return _collection("features", [], truncated=False)
    params = {**scope.sql_params(), "west": float(west), "south": float(south), "east": float(east),
              "north": float(north), "zoom": zoom_level, "full_zoom": FULL_ZOOM,
              "max_features": max_features, "cell": 360.0 / 2 ** zoom_level * CELL_PIXELS / 256,
              "tolerance": 360.0 / 2 ** zoom_level / 256 / 2,  # half a pixel: invisible
              "domains": domain_codes, "stage": filters.stage, "town": filters.town}
    # An interactive query over up to every project in view: JIT compilation costs more than it
    # saves, and the grid grouping of 10^5 rows should hash/sort in memory.
    session.execute(text("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"))
    rows = session.execute(sqlfiles.load("map_features"), params).mappings().all()
    if rows and rows[0]["kind"] == "cluster":
        return _collection("clusters", _clusters(rows, gcj02), truncated=False)
    features = [_feature(row, gcj02) for row in rows[:max_features]]
    return _collection("features", features, truncated=len(rows) > max_features)


def search_features(session: Session, scope: Scope, *, q: str | None, town: str | None = None,
                    crs: str | None = None) -> dict:
    """Up to ``SEARCH_LIMIT`` projects of the scope whose code or name contains ``q``, as a
    FeatureCollection with the same properties as ``view_features``' features (an exact code
    first). Geometry in EPSG:4326, or GCJ-02 when ``crs`` is ``gcj02``."""
    gcj02 = _parse_crs(crs)
    q = (q or "").strip()
    if not q:
        raise InvalidInput("请输入项目代码或名称", {"parameter": "q"})
    town = ProjectFilters.parse({"town": town}).town
    rows = session.execute(sqlfiles.load("map_search"), {**scope.sql_params(), "q": q[:100], "town": town,
                                                         "limit": SEARCH_LIMIT}).mappings().all()
    return _collection("features", [_feature(row, gcj02) for row in rows], truncated=False)


def _feature(row, gcj02: bool) -> dict:
    geometry = json.loads(row["geometry"])
    if gcj02:
        geometry = shapely.geometry.mapping(to_gcj02(shapely.geometry.shape(geometry)))
    return {"type": "Feature", "id": row["id"], "geometry": geometry,
            "properties": {"id": row["id"], "code": row["code"], "name": row["name"],
                           "domain": row["domain_code"], "stage": row["stage"],
                           "total_investment": float(row["total_investment"]),
                           "completed_investment": _number(row["completed_investment"]),
                           "length_km": _number(row["length_km"]), "area_km2": _number(row["area_km2"]),
                           "towns": [{**t, "share": round(t["share"], 4)} for t in row["towns"] or []]}}


def _number(value) -> float | None:
    return None if value is None else float(value)


def _clusters(rows, gcj02: bool) -> list[dict]:
    lng = np.array([r["lng"] for r in rows])
    lat = np.array([r["lat"] for r in rows])
    if gcj02:
        lng, lat = wgs84_to_gcj02(lng, lat)
    return [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
             "properties": {"cluster": True, "count": r["n"], "stage": r["stage"], "by_stage": r["by_stage"]}}
            for r, x, y in zip(rows, lng.tolist(), lat.tolist())]


def to_gcj02(geometry: shapely.Geometry) -> shapely.Geometry:
    """Shift a WGS84 geometry to GCJ-02, to be drawn over AMap tiles."""
    def shift(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(wgs84_to_gcj02(coords[:, 0], coords[:, 1]))
    return shapely.transform(geometry, shift)


def _collection(mode: str, features: list[dict], *, truncated: bool) -> dict:
    return {"type": "FeatureCollection", "mode": mode, "truncated": truncated, "features": features}


def _parse_crs(crs: str | None) -> bool:
    if crs in (None, "", "wgs84"):
        return False
    if crs == "gcj02":
        return True
    raise InvalidInput(f"不支持的地图坐标系：{crs}（可选 wgs84、gcj02）", {"parameter": "crs", "value": crs})


def _parse_zoom(zoom) -> int:
    try:
        value = int(zoom)
    except (TypeError, ValueError):
        raise InvalidInput(f"缩放级别 zoom 应为 0–22 的整数：{zoom}", {"parameter": "zoom", "value": zoom})
    if not 0 <= value <= 22:
        raise InvalidInput(f"缩放级别 zoom 应为 0–22 的整数：{zoom}", {"parameter": "zoom", "value": zoom})
    return value


def _parse_domains(domains: str | None) -> list[str] | None:
    return domain_codes(domains)
