"""The roll-up map of a province or city (issue 14): its districts as a choropleth (investment
density, completion rate, project count; switched like the district map's towns), each district
linking to its own map. Outlines come simplified from PostGIS (``registry.rollup``); every script
is local (``web.maps.assets``) and the page's inline script carries the CSP nonce."""
from __future__ import annotations

import json

import folium
from folium.elements import JSCSSMixin
from folium.template import Template

from web.maps.assets import localise
from web.maps.builder import MAX_ZOOM, metric_classes


class RollupLayers(JSCSSMixin):
    """Hands the district layer to ``EqregRollup.init`` (web/static/js/rollup_map.js)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        EqregRollup.init({
            map: {{ this._parent.get_name() }},
            districts: {{ this.districts.get_name() }},
            options: {{ this.options|tojson }}
        });
        {% endmacro %}
    """)

    default_js = [("eqreg_project_map", "js/project_map.js"),  # its helpers (EqregMap.esc, …)
                  ("eqreg_rollup_map", "js/rollup_map.js")]

    def __init__(self, *, districts, options: dict):
        super().__init__()
        self._name = "RollupLayers"
        self.districts, self.options = districts, options


def district_collection(districts: list[dict]) -> dict:
    """``registry.rollup`` district rows (with ``geometry``) as a FeatureCollection; districts
    without an outline are left out of the map (the table still lists them)."""
    features = []
    for row in districts:
        if not row.get("geometry"):
            continue
        properties = {k: v for k, v in row.items() if k != "geometry"}
        features.append({"type": "Feature", "geometry": json.loads(row["geometry"]), "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def build_rollup_map(districts: dict, *, options: dict) -> folium.Map:
    """The Folium map of ``districts`` (a FeatureCollection, ``district_collection``) with no
    basemap (a roll-up is read from the colours); ``options`` go to ``EqregRollup.init``
    (text, districtUrl, rollupUrl)."""
    m = folium.Map(tiles=None, zoom_start=8, location=[36.3, 118.0], width="100%", height="100%",
                   control_scale=False)  # a metric-only scale is added by rollup_map.js
    m.options["max_zoom"] = MAX_ZOOM
    layer = folium.GeoJson(districts, name="districts", smooth_factor=0.5, control=False).add_to(m)
    RollupLayers(districts=layer, options={**options, "metrics": metric_classes(districts)}).add_to(m)
    return localise(m)
