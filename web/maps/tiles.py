"""``/tiles/<z>/<x>/<y>.<ext>``: the loaded offline basemap's tiles (registry.basemap), served by
the app itself so an intranet map needs no outside tile server. Signed-in users only, like the maps."""
from __future__ import annotations

import base64

from flask import Blueprint, Response, abort, request

from registry import basemap

bp = Blueprint("tiles", __name__)
# Where the basemap has no tile (beyond its extent or zoom): a transparent 1×1 PNG, so the page
# shows the background there instead of a broken image and a console error.
EMPTY_TILE = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


@bp.app_context_processor
def offline_basemap() -> dict:
    """``offline_basemap()`` in templates: the loaded basemap as Leaflet tile options for the
    small maps (project form, project page), or None."""
    def describe() -> dict | None:
        local = basemap.current_basemap()
        if local is None:
            return None
        return {"url": f"{request.script_root}/tiles/{{z}}/{{x}}/{{y}}.{local.format}", "maxNativeZoom": local.max_zoom,
                "minNativeZoom": local.min_zoom, "maxZoom": 18}
    return {"offline_basemap": describe}


@bp.get("/tiles/<int:z>/<int:x>/<int:y>.<ext>")
def tile(z: int, x: int, y: int, ext: str):
    if ext not in basemap.RASTER_FORMATS:
        abort(404)
    data = basemap.tile(z, x, y)
    if data is None:
        return Response(EMPTY_TILE, mimetype="image/png", headers={"Cache-Control": "private, max-age=300"})
    return Response(data, mimetype=basemap.RASTER_FORMATS[ext], headers={"Cache-Control": "private, max-age=86400"})
