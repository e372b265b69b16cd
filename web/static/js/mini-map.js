// Project detail mini map: the project's geometry over the town outlines, no basemap needed
// (offline intranets). Leaflet is served locally from /static/vendor/leaflet.
(function () {
  "use strict";
  var container = document.getElementById("mini-map");
  var source = document.getElementById("project-geometry");
  if (!container || !source || typeof L === "undefined") { return; }
  var map = L.map(container, { attributionControl: false });
  var basemap = JSON.parse(container.dataset.basemap || "null");  // the offline MBTiles, when loaded
  if (basemap) { L.tileLayer(basemap.url, basemap).addTo(map); }
  var project = L.geoJSON(JSON.parse(source.textContent), {
    style: { color: "#c0392b", weight: 4, fillOpacity: 0.35 },
    pointToLayer: function (feature, latlng) {
      return L.circleMarker(latlng, { radius: 7, color: "#c0392b", fillOpacity: 0.8 });
    }
  }).addTo(map);
  var bounds = project.getBounds();
  map.fitBounds(bounds.pad(0.5), { maxZoom: 15 });
  fetch(container.dataset.townsUrl, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (towns) {
      if (!towns) { return; }
      L.geoJSON(towns, {
        style: { color: "#555", weight: 1, fillOpacity: 0.04 },
        onEachFeature: function (feature, layer) { layer.bindTooltip(feature.properties.name); }
      }).addTo(map);
      project.bringToFront();
    });
})();
