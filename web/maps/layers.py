"""The Folium element that hands the map's layers to web/static/js/project_map.js."""
from __future__ import annotations

from folium.elements import JSCSSMixin
from folium.template import Template


class ProjectLayers(JSCSSMixin):
    """Wires the town layer, the project cluster and its per-domain sub-groups, the grid-cluster
    layer and the heat layer to ``EqregMap.init``, which styles the towns and loads the projects
    of each view from the features endpoint. Add it to the map after those layers."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        EqregMap.init({
            map: {{ this._parent.get_name() }},
            towns: {{ this.towns.get_name() }},
            cluster: {{ this.cluster.get_name() }},
            aggregates: {{ this.aggregates.get_name() }},
            heat: {{ this.heat.get_name() }},
            subgroups: {
            {%- for code, layer in this.subgroups.items() %}
                {{ code|tojson }}: {{ layer.get_name() }},
            {%- endfor %}
            },
            options: {{ this.options|tojson }}
        });
        {% endmacro %}
    """)

    default_js = [("leaflet_vector_tile_layer", "vendor/leaflet-vector-tile-layer/VectorTileLayer.umd.min.js"),
                  ("eqreg_project_map", "js/project_map.js")]

    def __init__(self, *, towns, cluster, subgroups: dict, aggregates, heat, options: dict):
        super().__init__()
        self._name = "ProjectLayers"
        self.towns, self.cluster, self.subgroups = towns, cluster, subgroups
        self.aggregates, self.heat, self.options = aggregates, heat, options
