"""Roll-up pages for city and province viewers (issue 14): ``/rollup`` starts at the viewer's
level, ``/rollup/<level>/<code>`` shows a province or city (districts on a choropleth, tables per
city and district summed up the levels), ``/rollup/<level>/<code>/figures.<fmt>`` downloads the
tables (CSV/XLSX). Thin views over ``registry.rollup``, with the user's scope; town officials
are refused (403). A district links on to ``/map?district=<code>`` and from there to its towns."""
from __future__ import annotations

import tempfile

from flask import Blueprint, redirect, render_template, request, send_file, url_for
from flask_babel import lazy_gettext as _l

from registry import permissions, rollup as rollups, rollup_export
from registry.filters import ProjectFilters
from web import auth, database
from web.export_pages import attachment
from web.maps.rollup_map import build_rollup_map, district_collection
from web.maps.builder import page_parts
from web.security_headers import with_nonce

bp = Blueprint("rollup", __name__)

# The text web/static/js/rollup_map.js shows, in the UI language.
MAP_TEXT = {"wan_yuan": _l("10k yuan"), "total_investment": _l("Total investment"),
            "completed_investment": _l("Completed investment"), "metric": _l("Colour by"),
            "view_district": _l("View district map →"), "no_data": _l("No data"),
            "zoom_in": _l("Zoom in"), "zoom_out": _l("Zoom out"), "layers_toggle": _l("Layers")}


def _scope():
    scope = auth.current_scope()
    auth.require(permissions.can_view_rollup(scope))
    return scope


@bp.get("/rollup")
def landing():
    scope = _scope()
    start = rollups.landing(database.session(), scope)
    if start is None:
        return render_template("rollup.html", figures=None, map_parts=None, provinces=[], filters={})
    kept = {key: value for key, value in request.args.items() if key not in ("level", "code")}
    return redirect(url_for("rollup.jurisdiction", level=start.level, code=start.code, **kept))


@bp.get("/rollup/<level>/<code>")
def jurisdiction(level: str, code: str):
    scope, session = _scope(), database.session()
    place = rollups.parse_jurisdiction(level, code)
    filters = ProjectFilters.parse(request.args)
    figures = rollups.rollup(session, scope, place, filters, with_geometry=True)
    districts = district_collection(figures["districts"])
    options = {"text": {key: str(value) for key, value in MAP_TEXT.items()},
               "districtUrl": url_for("maps.district_map") + "?district="}
    parts = {name: with_nonce(html) for name, html in page_parts(build_rollup_map(districts, options=options)).items()}
    kept = {k: v for k, v in request.args.items() if v and k != "lang"}
    return render_template("rollup.html", figures=figures, map_parts=parts, filters=kept,
                           provinces=rollups.provinces(session, scope), targets_url=level_targets_url(place),
                           present=rollups.districts_present(session, place),
                           has_outlines=bool(districts["features"]),
                           province_name=rollups.jurisdiction_name("province", figures["province_code"]),
                           city_names={c["code"]: c["name"] for c in figures["cities"]})


@bp.get("/rollup/<level>/<code>/figures.<fmt>")
@database.on_primary  # audited: it writes
def figures_download(level: str, code: str, fmt: str):
    scope = _scope()
    place = rollups.parse_jurisdiction(level, code)
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    rollup_export.export_figures(database.session(), fmt, spool, scope=scope, jurisdiction=place,
                                 filters=ProjectFilters.parse(request.args))
    spool.seek(0)
    response = send_file(spool, mimetype={"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-"
                                          "officedocument.spreadsheetml.sheet"}[fmt])
    response.headers["Content-Disposition"] = attachment(rollup_export.filename(place, fmt),
                                                         rollup_export.ascii_filename(place, fmt))
    return response


def level_targets_url(place: rollups.Jurisdiction) -> str:
    """The targets page narrowed to a city or province: its own targets (with the 区县合计 beside
    them) and its districts' targets, as far as the account may read them."""
    return url_for("targets_pages.targets_page", district=place.code)
