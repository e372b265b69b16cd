"""Town outlines with their figures, for the maps (EPSG:4326, or shifted to GCJ-02 for AMap)."""
from __future__ import annotations

import json

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import NotFound
from registry.figures import town_figures
from registry.models import Town
from registry.scope import Scope, town_clause
from web.maps.features import to_gcj02

SIMPLIFY_DEGREES = 0.0001  # ~10 m: invisible at district zoom, keeps the page small
MAP_FIGURES = ("area_km2", "project_count", "total_investment", "completed_investment", "density",
               "completion_rate")


def default_district(session: Session, scope: Scope) -> str | None:
    """The district whose map to show when none is asked for: the first with visible towns."""
    return session.scalar(select(func.min(Town.district_code))
                          .where(Town.valid_to.is_(None), town_clause(scope)))


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
