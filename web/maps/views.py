"""Map pages: the district map ``/map`` and a town's map ``/towns/<code>`` with its figures."""
from __future__ import annotations

import dataclasses

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from registry.basemap import current_basemap
from registry.errors import InvalidInput
from registry.figures import town_figures
from registry.filters import ProjectFilters
from registry.map_view import collection_bounds, default_district, find_town, require_district, town_collection
from registry.map_tiles import tiles_pay_off
from registry.scope import Scope
from registry.vocab import DOMAINS, STAGES
from web import database
from web.identity import current_scope
from web.maps.builder import BASEMAPS, available_basemaps, build_map, page_parts
from web.security_headers import with_nonce

bp = Blueprint("maps", __name__)
# The filters of the project list the project layer honours (the view box is the map's own).
LAYER_FILTERS = tuple(f.name for f in dataclasses.fields(ProjectFilters) if f.name != "bbox")

# The text web/static/js/project_map.js shows, in the UI language ({n} is filled in by the script).
MAP_TEXT = {
    "wan_yuan": _l("10k yuan"), "total_investment": _l("Total investment"),
    "completed_investment": _l("Completed investment"), "length": _l("Length"), "area": _l("Area"),
    "towns": _l("Located in"), "view_project": _l("View project →"), "view_town": _l("View town →"),
    "town_figures": _l("Town figures"), "stages": _l("Project stage"), "no_data": _l("No data"),
    "loading": _l("Loading projects…"), "load_failed": _l("Could not load the projects; please reload"),
    "status_clusters": _l("{n} projects (grouped; zoom in to see each project)"),
    "status_features": _l("{n} projects shown"),
    "status_truncated": _l("Only the first {n} projects shown; zoom in"),
    "cluster_count": _l("{n} projects"), "basemap": _l("Basemap: "), "search": _l("Search"),
    "search_placeholder": _l("Project code or name"), "not_found": _l("No matching project"),
    "layers": _l("Layers and legend"),
    "zoom_in": _l("Zoom in"), "zoom_out": _l("Zoom out"), "layers_toggle": _l("Layers"),
}


@bp.get("/map")
def district_map():
    session, scope = database.session(), current_scope()
    asked = request.args.get("district")
    district = require_district(session, scope, asked) if asked else default_district(session, scope)
    return _render(session, scope, district_code=district, town_code=None)


@bp.get("/towns/<code>")
def town_map(code: str):
    session, scope = database.session(), current_scope()
    town = find_town(session, scope, code)
    return _render(session, scope, district_code=town.district_code, town_code=town.code)


def _render(session, scope: Scope, *, district_code: str | None, town_code: str | None):
    local = current_basemap()
    basemap = _basemap(local)
    # the costly part: once per change stamp, shared by the workers (computed ones stored on the primary)
    figures = town_figures(session, scope, district_code=district_code, share=database.grid_engine())
    towns = town_collection(session, scope, district_code=district_code, figures=figures,
                            gcj02=basemap == "amap")
    options = {
        "endpoint": url_for("maps_api.features"),
        "searchEndpoint": url_for("maps_api.search"),
        "text": {key: str(value) for key, value in MAP_TEXT.items()},
        "params": _layer_filters(town_code),
        "crs": "gcj02" if basemap == "amap" else "",
        "projectUrl": request.script_root + "/projects/",
        "townUrl": request.script_root + "/towns/",
        "highlight": town_code,
        "basemaps": [{"key": key, "label": str(BASEMAPS[key][0]), "active": key == basemap,
                      "href": url_for(request.endpoint, **(request.view_args or {}),
                                      **{**request.args.to_dict(), "basemap": key})}
                     for key in available_basemaps(current_app.config, local)],
    }
    if basemap != "amap" and tiles_pay_off(session, int(current_app.config.get("MAP_TILES_ABOVE") or 0)):
        # tiles are Web Mercator over WGS84; the AMap basemap needs GCJ-02 overlays (the features endpoint)
        options["tiles"] = request.script_root + "/api/v1/map/tiles/{z}/{x}/{y}.mvt"
    folium_map = build_map(towns=towns, bounds=collection_bounds(towns, town_code), basemap=basemap,
                           tianditu_key=current_app.config.get("TIANDITU_KEY"), options=options,
                           local=local, tiles_root=request.script_root)
    town = next((f for f in figures if f["code"] == town_code), None) if town_code else None
    town_name = next((f["properties"]["name"] for f in towns["features"]
                      if f["properties"]["code"] == town_code), None)
    parts = {name: with_nonce(html) for name, html in page_parts(folium_map).items()}  # CSP
    return render_template("map.html", map_parts=parts, town=town,
                           town_name=town_name, has_towns=bool(towns["features"]),
                           stages=STAGES, domains=DOMAINS)


def _layer_filters(town_code: str | None) -> dict:
    """The project list's filters in the page's query (``/map?stage=在建``), checked here and
    passed on to the project layer's requests; a town's page keeps to its town."""
    ProjectFilters.parse(request.args)  # a bad value is the list's 400, not a broken map
    params = {name: request.args[name] for name in LAYER_FILTERS if request.args.get(name)}
    return {**params, "town": town_code} if town_code else params


def _basemap(local) -> str:
    """The basemap asked for (``?basemap=``), else the default: the loaded offline one, else none."""
    available = available_basemaps(current_app.config, local)
    basemap = request.args.get("basemap") or available[0]
    if basemap not in available:
        raise InvalidInput(f"不支持的底图：{basemap}", {"parameter": "basemap", "value": basemap,
                                                   "allowed": available})
    return basemap
