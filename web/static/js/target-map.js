// Target detail: a small choropleth of each town's contribution (value in feature properties),
// drawn with the locally served Leaflet; no basemap needed (offline intranets).
(function () {
  "use strict";
  var container = document.getElementById("target-map");
  var source = document.getElementById("target-towns");
  if (!container || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var unit = container.dataset.unit || "";
  var colors = ["#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"];
  var values = data.towns.features.map(function (f) { return f.properties.value || 0; });
  var max = Math.max.apply(null, values.concat([0]));
  function color(value) {
    if (value === null || value === undefined) { return "#eeeeee"; }
    if (!max || value <= 0) { return "#f7f7f7"; }
    return colors[Math.min(colors.length - 1, Math.floor(value / max * colors.length))];
  }
  var map = L.map(container, { attributionControl: false });
  var layer = L.geoJSON(data.towns, {
    style: function (f) {
      return { color: "#555", weight: 1, fillOpacity: 0.75, fillColor: color(f.properties.value) };
    },
    onEachFeature: function (f, l) {
      var v = f.properties.value;
      l.bindTooltip(f.properties.name + "：" + (v === null || v === undefined ? "—" : (+v.toFixed(3)) + " " + unit));
    }
  }).addTo(map);
  if (data.bounds) {
    map.fitBounds(data.bounds);
  } else if (layer.getLayers().length) {
    map.fitBounds(layer.getBounds());
  } else {
    map.setView([35, 117], 8);
  }
  document.documentElement.dataset.targetMapReady = "1";
})();
