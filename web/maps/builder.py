"""Build the district/town map with Folium: towns embedded (few, simplified, with figures),
projects loaded lazily by web/static/js/project_map.js. Every script and stylesheet is local."""
from __future__ import annotations

import folium
import numpy as np
from branca.colormap import linear
from folium.plugins import FeatureGroupSubGroup, HeatMap, MarkerCluster

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from registry.basemap import Basemap
from registry.vocab import DOMAINS, STAGES
from web.i18n import domain_label, stage_label
from web.maps.assets import localise
from web.maps.layers import ProjectLayers

# key, label, unit, digits, shown as a percentage
METRICS = [("density", _l("Investment density"), _l("10k yuan/km²"), 1, False),
           ("completion_rate", _l("Completion rate"), "", 1, True),
           ("project_count", _l("Project count"), "", 0, False)]
STAGE_COLORS = {"reserve": "#8c8c8c", "approval": "#1f78b4", "construction": "#ff7f00",
                "completed": "#33a02c", "suspended": "#6a3d9a", "cancelled": "#b15928"}
CLASSES = 5
MAX_ZOOM = 18

BASEMAPS = {  # key: (label, tile URL template, subdomains, attribution)
    "local": (_l("Local basemap"), None, None, None),  # registry.basemap, served at /tiles/...
    "none": (_l("None"), None, None, None),
    "osm": ("OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "abc",
            "© OpenStreetMap contributors"),
    "tianditu": (_l("Tianditu"), "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                 "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                 "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}", "01234567", "© 天地图"),
    # AMap tiles are drawn in GCJ-02: the page shifts every overlay to match (see views).
    "amap": (_l("AMap"), "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
             "&style=8&x={x}&y={y}&z={z}", "1234", "© 高德地图"),
}


def available_basemaps(config, local: Basemap | None) -> list[str]:
    """The basemaps this deployment offers, the default first: the bureau's own MBTiles when
    loaded (``eqreg basemap load``), none, then the online ones listed in ``EQREG_BASEMAPS``
    (off unless configured; Tianditu only with a key)."""
    listed = config.get("BASEMAPS") or []
    if isinstance(listed, str):  # EQREG_BASEMAPS=tianditu,osm (not JSON) is meant the same way
        listed = [key.strip() for key in listed.split(",")]
    online = [key for key in listed if key in BASEMAPS and key not in ("none", "local")
              and (key != "tianditu" or config.get("TIANDITU_KEY"))]
    return (["local"] if local else []) + ["none"] + online


def metric_classes(towns: dict) -> list[dict]:
    """Colour classes per metric (quantile breaks over the towns shown), for the JS legend."""
    out = []
    for key, label, unit, digits, percent in METRICS:
        values = np.array([f["properties"][key] for f in towns["features"]
                           if f["properties"].get(key) is not None], dtype=float)
        if values.size == 0:
            values = np.array([0.0])
        distinct = np.unique(values.round(6))
        breaks = (distinct if distinct.size <= CLASSES  # few towns: one class per value
                  else np.unique(np.quantile(values, np.linspace(0, 1, CLASSES + 1)[1:]).round(6))).tolist()
        colormap = linear.YlOrRd_09.scale(0, max(len(breaks) - 1, 1))
        colors = [colormap.rgb_hex_str(i) for i in range(len(breaks))]
        out.append({"key": key, "label": str(label), "unit": str(unit), "digits": digits, "percent": percent,
                    "breaks": breaks, "colors": colors})
    return out


def build_map(*, towns: dict, bounds, basemap: str, tianditu_key: str | None, options: dict,
              local: Basemap | None = None, tiles_root: str = "") -> folium.Map:
    """The Folium map: towns (choropleth styled by the JS metric switch), one marker cluster with
    a sub-group per domain, a grid-cluster layer, a heat layer and the chosen basemap.

    ``towns`` is a FeatureCollection from ``registry.map_view.town_collection``; ``bounds``
    ``[[south, west], [north, east]]`` to fit; ``options`` goes to ``EqregMap.init`` (endpoint,
    params, crs, projectUrl, townUrl, basemaps, highlight).
    """
    m = folium.Map(tiles=None, control_scale=False,  # a metric-only scale is added by project_map.js
                   zoom_start=11, location=[35.0, 117.0], width="100%", height="100%")
    # Folium gives max_zoom to its default tiles only; markercluster needs it on the map itself.
    m.options["max_zoom"] = MAX_ZOOM
    if basemap == "local" and local is not None:
        _add_local_basemap(m, local, tiles_root)
    else:
        _add_basemap(m, basemap, tianditu_key)
    town_layer = folium.GeoJson(towns, name=_("Town boundaries"), smooth_factor=0.5).add_to(m)
    cluster = MarkerCluster(control=False, icon_create_function="EqregMap.clusterIcon",
                            show_coverage_on_hover=False, max_cluster_radius=50,
                            chunked_loading=True).add_to(m)
    subgroups = {code: FeatureGroupSubGroup(cluster, name=_("Projects · %(domain)s", domain=domain_label(code)))
                 .add_to(m) for code in DOMAINS}
    aggregates = folium.FeatureGroup(name=_("Project clusters"), control=False).add_to(m)
    heat = HeatMap([], name=_("Project density (heat)"), show=False, radius=22, blur=18, min_opacity=0.3).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    # fitted by EqregMap.init without animation, before it loads the first view's projects
    options = {**options, "bounds": bounds, "metrics": metric_classes(towns),
               # lists, not objects: Flask's JSON sorts keys and the legend keeps the life-cycle order
               "stages": [{"code": code, "label": stage_label(code), "color": STAGE_COLORS[code]}
                          for code in STAGES],
               "domains": {code: domain_label(code) for code in DOMAINS}}
    ProjectLayers(towns=town_layer, cluster=cluster, subgroups=subgroups, aggregates=aggregates,
                  heat=heat, options=options).add_to(m)
    return localise(m)


def _add_local_basemap(m: folium.Map, local: Basemap, tiles_root: str) -> None:
    """The bureau's MBTiles: beyond its zoom levels the nearest one is scaled, beyond its extent
    nothing is requested."""
    options = {"max_native_zoom": local.max_zoom, "min_native_zoom": local.min_zoom}
    if local.bounds:
        west, south, east, north = local.bounds
        options["bounds"] = [[south, west], [north, east]]
    folium.TileLayer(f"{tiles_root}/tiles/{{z}}/{{x}}/{{y}}.{local.format}", name=local.name,
                     attr=local.attribution or local.name, max_zoom=MAX_ZOOM, control=False, **options).add_to(m)


def _add_basemap(m: folium.Map, basemap: str, tianditu_key: str | None) -> None:
    label, url, subdomains, attribution = BASEMAPS[basemap]
    if url is None:
        return
    if basemap == "tianditu":
        for layer, name in (("vec", _("Tianditu")), ("cva", _("Tianditu labels"))):
            folium.TileLayer(url.replace("{layer}", layer).replace("{key}", tianditu_key or ""),
                             name=name, attr=attribution, subdomains=subdomains, max_zoom=MAX_ZOOM,
                             overlay=layer == "cva", control=False).add_to(m)
        return
    folium.TileLayer(url, name=label, attr=attribution, subdomains=subdomains, max_zoom=MAX_ZOOM,
                     control=False).add_to(m)


def page_parts(m: folium.Map) -> dict[str, str]:
    """The rendered map split for a Jinja page: ``header`` (links, styles), ``html``, ``script``."""
    root = m.get_root()
    root.render()
    return {"header": root.header.render(), "html": root.html.render(), "script": root.script.render()}
