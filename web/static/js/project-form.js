// Project form map: place a point or draw a line/polygon (Leaflet.draw, served locally), or type
// coordinates in a chosen coordinate system; the server converts them and previews the towns and
// shares the project would get (POST /api/v1/projects/preview, nothing saved). Drawn geometry is
// WGS84 (EPSG:4326) and goes in the hidden "geometry" field as GeoJSON.
(function () {
  "use strict";
  var container = document.getElementById("draw-map");
  if (!container || typeof L === "undefined") { return; }
  var hidden = document.getElementById("f-geometry");
  var dirty = document.getElementById("f-geometry_dirty");
  var csrf = document.querySelector("input[name=csrf_token]").value;
  var typed = ["f-lng", "f-lat", "f-wkt"].map(function (id) { return document.getElementById(id); });
  var message = document.getElementById("preview-message");
  var tbody = document.querySelector("#preview-towns tbody");
  var text = container.dataset;  // messages in the UI language (data-text-* on #draw-map)

  var map = L.map(container, { attributionControl: false }).setView([35.0, 117.0], 11);
  var basemap = JSON.parse(container.dataset.basemap || "null");  // the offline MBTiles, when loaded
  if (basemap) { L.tileLayer(basemap.url, basemap).addTo(map); }
  var drawn = new L.FeatureGroup().addTo(map);
  // Leaflet.draw's toolbar and hints in the UI language (#draw-text, from the page's catalogue)
  var drawText = document.getElementById("draw-text");
  (function merge(into, from) {
    Object.keys(from).forEach(function (key) {
      if (typeof from[key] === "object" && into[key]) { merge(into[key], from[key]); } else { into[key] = from[key]; }
    });
  })(L.drawLocal, drawText ? JSON.parse(drawText.textContent) : {});
  var style = { color: "#c0392b", weight: 4, fillOpacity: 0.3 };
  map.addControl(new L.Control.Draw({
    edit: { featureGroup: drawn },
    draw: { polyline: { shapeOptions: style }, polygon: { shapeOptions: style, allowIntersection: false },
            marker: true, rectangle: false, circle: false, circlemarker: false }
  }));

  function show(geometry) {
    drawn.clearLayers();
    L.geoJSON(geometry, { style: style }).eachLayer(function (layer) { drawn.addLayer(layer); });
    if (drawn.getLayers().length) { map.fitBounds(drawn.getBounds().pad(0.5), { maxZoom: 15 }); }
  }

  function current() {
    var layers = drawn.getLayers();
    if (!layers.length) { return null; }
    if (layers.length === 1) { return layers[0].toGeoJSON().geometry; }
    // several drawn shapes of one kind become a Multi* geometry
    var parts = layers.map(function (l) { return l.toGeoJSON().geometry; });
    var type = parts[0].type;
    if (parts.some(function (p) { return p.type !== type; })) { return parts[parts.length - 1]; }
    return { type: "Multi" + type, coordinates: parts.map(function (p) { return p.coordinates; }) };
  }

  function render(result) {
    tbody.innerHTML = "";
    var towns = result.towns || [];
    towns.forEach(function (t) {
      var row = document.createElement("tr");
      var measure = t.length_km != null ? t.length_km.toFixed(3) + " km"
                  : t.area_km2 != null ? t.area_km2.toFixed(4) + " km²" : "";
      [t.name, (t.share * 100).toFixed(1) + "%", measure].forEach(function (text, i) {
        var cell = document.createElement("td");
        cell.textContent = text;
        if (i) { cell.className = "num"; }
        row.appendChild(cell);
      });
      tbody.appendChild(row);
    });
    if (!towns.length) {
      tbody.innerHTML = '<tr><td colspan="3" class="empty"></td></tr>';
      tbody.querySelector("td").textContent = text.textNoTown;
    }
    // partly_outside and the like: the server's message (with the length or area outside)
    var warnings = (result.warnings || []).map(function (w) { return w.message; }).join(" ");
    message.textContent = result.inside ? warnings : (result.swapped ? text.textSwapped : text.textOutside);
  }

  function preview(body, redraw) {
    body.crs = body.crs || "WGS84";
    fetch(container.dataset.previewUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (answer) {
      if (!answer.ok) { message.textContent = answer.data.error.message; return; }
      if (redraw) { show(answer.data.geometry); }
      render(answer.data);
    }).catch(function () { message.textContent = text.textPreviewFailed; });
  }

  function changed() {
    var geometry = current();
    hidden.value = geometry ? JSON.stringify(geometry) : "";
    dirty.value = "1";
    typed.forEach(function (input) { input.value = ""; });
    if (geometry) { preview({ geometry: geometry }, false); }
  }

  map.on(L.Draw.Event.CREATED, function (event) {
    // one project, one geometry kind: a new shape of another kind replaces the old ones
    var kind = event.layer.toGeoJSON().geometry.type;
    drawn.getLayers().forEach(function (l) {
      if (l.toGeoJSON().geometry.type !== kind) { drawn.removeLayer(l); }
    });
    drawn.addLayer(event.layer);
    changed();
  });
  map.on(L.Draw.Event.EDITED, changed);
  map.on(L.Draw.Event.DELETED, changed);

  document.getElementById("show-typed").addEventListener("click", function () {
    var lng = typed[0].value.trim(), lat = typed[1].value.trim(), wkt = typed[2].value.trim();
    var crs = document.getElementById("f-crs").value;
    if (wkt) { preview({ wkt: wkt, crs: crs }, true); }
    else if (lng && lat) {
      preview({ geometry: { type: "Point", coordinates: [parseFloat(lng), parseFloat(lat)] }, crs: crs }, true);
    } else { message.textContent = text.textNeedInput; }
  });

  if (hidden.value) {
    try { show(JSON.parse(hidden.value)); } catch (e) { hidden.value = ""; }
  }
  fetch(container.dataset.townsUrl, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (towns) {
      if (!towns) { return; }
      var layer = L.geoJSON(towns, {
        style: { color: "#555", weight: 1, fillOpacity: 0.04 }, interactive: false
      }).addTo(map);
      layer.bringToBack();
      if (!drawn.getLayers().length && layer.getBounds().isValid()) { map.fitBounds(layer.getBounds()); }
    });
})();
