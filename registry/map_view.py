"""What a map view shows: the projects in view (loaded lazily by the page, never embedded in
the HTML), the map's search box, and the town outlines with their figures.

Few projects in view (or zoomed in): the features themselves. Many: the projects grouped on a
screen-sized grid by PostGIS, so a view of 100k projects costs a few hundred small rows. The
projects are those of the ``ProjectFilters`` that list, export and stats use. Geometry is
EPSG:4326, or shifted to GCJ-02 when the page is drawn over AMap (``crs=gcj02``).
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import shapely
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo.crs import gcj02_to_wgs84, to_gcj02, wgs84_to_gcj02
from registry import sqlfiles
from registry.errors import InvalidInput, NotFound
from registry.figures import town_figures
from registry.filters import ProjectFilters, domain_codes
from registry.models import Town
from registry.scope import Scope, town_clause

MAX_FEATURES = 1500  # above this many projects in view, send the grid instead
FULL_ZOOM = 16  # from this zoom on, always the features (at most MAX_FEATURES)
CELL_PIXELS = 64  # grid cell size on screen
SEARCH_LIMIT = 10  # projects offered by the map's search box
SIMPLIFY_DEGREES = 0.0001  # town outlines: ~10 m, invisible at district zoom, keeps the page small
MAP_FIGURES = ("area_km2", "project_count", "total_investment", "completed_investment", "density",
               "completion_rate")


def view_features(session: Session, scope: Scope, filters: ProjectFilters, *, zoom: str | int | None,
                  domains: str | None = None, crs: str | None = None,
                  max_features: int | None = None) -> dict:
    """The projects of one map view as a GeoJSON FeatureCollection.

    ``filters.bbox`` (required) is the view, ``west,south,east,north`` in the map's coordinates
    (EPSG:4326, or GCJ-02 when ``crs`` is ``gcj02``, i.e. the page is drawn over AMap); the other
    filters (town, domain, stage, year, key projects, text) are those of the project list.
    ``domains`` is the comma-separated domain layers switched on (``None``: all; empty: none).
    The result has a foreign member ``mode``:
    ``"features"`` (properties ``id, code, name, domain, stage, total_investment,
    completed_investment, length_km, area_km2, towns`` = ``[{code, name, share}]``) or
    ``"clusters"`` (Point per grid cell; properties ``cluster, count, stage`` — the commonest —
    and ``by_stage``), and ``truncated`` when more features matched than were sent.
    ``max_features`` (default ``MAX_FEATURES``, the app's ``MAP_MAX_FEATURES``) is the most
    features sent before the grid is used instead.
    """
    max_features = max_features or MAX_FEATURES
    gcj02 = _parse_crs(crs)
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
              "domains": domain_codes}
    # The view box is matched by bounding box (&& in map_features.sql), not by the exact intersection
    # the list's bbox filter uses: a map draws what overlaps the screen.
    statement = sqlfiles.with_condition("map_features", dataclasses.replace(filters, bbox=None).clauses())
    # An interactive query over up to every project in view: JIT compilation costs more than it
    # saves, and the grid grouping of 10^5 rows should hash/sort in memory.
    session.execute(text("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"))
    rows = session.execute(statement, params).mappings().all()
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


def default_district(session: Session, scope: Scope) -> str | None:
    """The district whose map to show when none is asked for: the first with visible towns."""
    return session.scalar(select(func.min(Town.district_code))
                          .where(Town.valid_to.is_(None), town_clause(scope)))


def require_district(session: Session, scope: Scope, code: str) -> str:
    """``code`` if the scope sees current towns in that district; ``NotFound`` otherwise (a map
    asked for by hand for another district, or one without boundaries, like ``find_town``)."""
    if session.scalar(select(Town.code).where(Town.district_code == code, Town.valid_to.is_(None),
                                              town_clause(scope)).limit(1)) is None:
        raise NotFound(f"未找到区县：{code}（或无权查看，或尚未加载其镇街边界）", {"district": code})
    return code


def find_town(session: Session, scope: Scope, code: str) -> Town:
    """The current town ``code`` if the scope may see it; ``NotFound`` otherwise."""
    town = session.scalar(select(Town).where(Town.code == code, Town.valid_to.is_(None),
                                             town_clause(scope)))
    if town is None:
        raise NotFound(f"未找到镇街：{code}", {"town": code})
    return town


def town_collection(session: Session, scope: Scope, *, district_code: str | None,
                    figures: list[dict] | None = None, gcj02: bool = False) -> dict:
    """The scope's current towns of ``district_code`` as a FeatureCollection whose properties
    are ``code, name`` and the figures in ``MAP_FIGURES``; ``figures`` is
    ``registry.figures.town_figures`` of the same scope and district when already computed."""
    if figures is None:
        figures = town_figures(session, scope, district_code=district_code)
    figures = {f["code"]: f for f in figures}
    rows = session.execute(
        select(Town.code, Town.name,
               func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(Town.geom, SIMPLIFY_DEGREES), 5)
               .label("geometry"))
        .where(Town.valid_to.is_(None), Town.district_code == district_code, town_clause(scope))
        .order_by(Town.code))
    features = []
    for row in rows:
        geometry = json.loads(row.geometry)
        if gcj02:
            geometry = shapely.geometry.mapping(to_gcj02(shapely.geometry.shape(geometry)))
        town = figures.get(row.code, {})
        properties = {"code": row.code, "name": row.name, **{k: town.get(k) for k in MAP_FIGURES}}
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def collection_bounds(collection: dict, code: str | None = None) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` of the collection (or of town ``code`` in it)."""
    shapes = [shapely.geometry.shape(f["geometry"]) for f in collection["features"]
              if code is None or f["properties"]["code"] == code]
    if not shapes:
        return None
    west, south, east, north = shapely.GeometryCollection(shapes).bounds
    return [[south, west], [north, east]]
