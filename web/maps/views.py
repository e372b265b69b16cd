"""Map pages: the district map ``/map`` and a town's map ``/towns/<code>`` with its figures."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for

from registry.errors import InvalidInput
from registry.figures import town_figures
from registry.scope import Scope
from registry.vocab import DOMAINS, STAGES
from web import database
from web.auth import current_scope
from web.maps.builder import BASEMAPS, available_basemaps, build_map, page_parts
from web.security_headers import with_nonce
from web.maps.towns import collection_bounds, default_district, find_town, town_collection

bp = Blueprint("maps", __name__)


@bp.get("/map")
def district_map():
    session, scope = database.session(), current_scope()
    district = request.args.get("district") or default_district(session, scope)
    return _render(session, scope, district_code=district, town_code=None)


@bp.get("/towns/<code>")
def town_map(code: str):
    session, scope = database.session(), current_scope()
    town = find_town(session, scope, code)
    return _render(session, scope, district_code=town.district_code, town_code=town.code)


def _render(session, scope: Scope, *, district_code: str | None, town_code: str | None):
    basemap = _basemap()
    figures = town_figures(session, scope, district_code=district_code)  # the costly part: once
    towns = town_collection(session, scope, district_code=district_code, figures=figures,
                            gcj02=basemap == "amap")
    options = {
        "endpoint": url_for("maps_api.features"),
        "params": {"town": town_code} if town_code else {},
        "crs": "gcj02" if basemap == "amap" else "",
        "projectUrl": request.script_root + "/projects/",
        "townUrl": request.script_root + "/towns/",
        "highlight": town_code,
        "basemaps": [{"key": key, "label": BASEMAPS[key][0], "active": key == basemap,
                      "href": url_for(request.endpoint, **(request.view_args or {}),
                                      **{**request.args.to_dict(), "basemap": key})}
                     for key in available_basemaps(current_app.config)],
    }
    folium_map = build_map(towns=towns, bounds=collection_bounds(towns, town_code), basemap=basemap,
                           tianditu_key=current_app.config.get("TIANDITU_KEY"), options=options)
    town = next((f for f in figures if f["code"] == town_code), None) if town_code else None
    town_name = next((f["properties"]["name"] for f in towns["features"]
                      if f["properties"]["code"] == town_code), None)
    parts = {name: with_nonce(html) for name, html in page_parts(folium_map).items()}  # CSP
    return render_template("map.html", map_parts=parts, town=town,
                           town_name=town_name, has_towns=bool(towns["features"]),
                           stages=STAGES, domains=DOMAINS)


def _basemap() -> str:
    basemap = request.args.get("basemap") or "none"
    if basemap not in available_basemaps(current_app.config):
        raise InvalidInput(f"不支持的底图：{basemap}", {"parameter": "basemap", "value": basemap,
                                                   "allowed": available_basemaps(current_app.config)})
    return basemap
