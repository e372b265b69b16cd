"""Serve every Leaflet/Folium resource from ``web/static/vendor`` (offline intranets, no CDN).

Folium elements declare their scripts and stylesheets in ``default_js`` / ``default_css`` as
``(name, url)`` pairs pointing at CDNs. ``localise`` replaces them, per element, with the app's
own copies; a resource name not listed here raises, so a Folium upgrade that adds a CDN link
fails loudly instead of reaching out to the internet. (``add_js_link`` is not used: it edits the
class-level list shared by every map in the process.)
"""
from __future__ import annotations

from flask import url_for

# resource name used by Folium → file under web/static/ (None: not needed, dropped)
LOCAL_FILES: dict[str, str | None] = {
    "leaflet": "vendor/leaflet/leaflet.js",
    "leaflet_css": "vendor/leaflet/leaflet.css",
    "markerclusterjs": "vendor/leaflet.markercluster/leaflet.markercluster.js",
    "markerclustercss": "vendor/leaflet.markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "vendor/leaflet.markercluster/MarkerCluster.Default.css",
    "featuregroupsubgroupjs": "vendor/leaflet.featuregroup.subgroup/leaflet.featuregroup.subgroup.js",
    "leaflet-heat.js": "vendor/leaflet.heat/leaflet-heat.js",
    "leaflet_vector_tile_layer": "vendor/leaflet-vector-tile-layer/VectorTileLayer.umd.min.js",
    "eqreg_project_map": "js/project_map.js",  # web/maps/layers.py
    "eqreg_rollup_map": "js/rollup_map.js",  # web/maps/rollup_map.py
    # Folium's Map also loads jQuery, Bootstrap and Awesome Markers for folium.Icon and its
    # Bootstrap-styled popups; the registry's maps use neither, so they are left out.
    "jquery": None,
    "bootstrap": None,
    "awesome_markers": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": None,
    "awesome_markers_css": None,
    "awesome_rotate_css": None,
}


def static_url(relative: str) -> str:
    """URL of a file under ``web/static`` (needs an app or request context)."""
    return url_for("static", filename=relative)


def _local(pairs: list[tuple[str, str]], element) -> list[tuple[str, str]]:
    out = []
    for name, _url in pairs:
        if name not in LOCAL_FILES:
            raise LookupError(f"{type(element).__name__} needs resource {name!r}, which is not "
                              "vendored: add it to scripts/vendor_assets.sh and LOCAL_FILES")
        if LOCAL_FILES[name] is not None:
            out.append((name, static_url(LOCAL_FILES[name])))
    return out


def localise(element):
    """Point ``element``'s (and its children's) JS/CSS at the vendored copies; returns it."""
    for item in [element, *_descendants(element)]:
        if hasattr(item, "default_js"):
            item.default_js = _local(type(item).default_js, item)
            item.default_css = _local(type(item).default_css, item)
    return element


def _descendants(element):
    for child in element._children.values():
        yield child
        yield from _descendants(child)
