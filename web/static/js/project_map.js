/* District / town map: town choropleth with a metric switch, and project features loaded per
 * view from /api/v1/map/features (grid clusters when zoomed out, features when zoomed in), or on
 * large registries as vector tiles from /api/v1/map/tiles (options.tiles; see showTiles).
 * The Folium page creates the layers; EqregMap.init wires them up. No external requests. */
(function () {
  "use strict";
  var cfg = null;  // set by init
  var NO_DATA = "#d9d9d9";
  var PROJECT_PANE = "eqreg-projects";  // lines and polygons: above the towns (400), below markers (600)

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function num(value, digits) {
    if (value == null) { return "—"; }
    return Number(value).toLocaleString("zh-CN", {maximumFractionDigits: digits == null ? 2 : digits});
  }
  function metricValue(metric, value) {  // without the unit, for the legend
    if (value == null) { return "—"; }
    return metric.percent ? num(value * 100, 1) + "%" : num(value, metric.digits);
  }
  function metricText(metric, value) {
    return metricValue(metric, value) + (metric.unit && value != null ? " " + metric.unit : "");
  }
  function stageInfo(stage) {
    return cfg.options.stages.filter(function (s) { return s.code === stage; })[0] || {label: stage, color: "#666"};
  }
  function stageColor(stage) { return stageInfo(stage).color; }
  function stageLabel(stage) { return stageInfo(stage).label; }
  function dot(color, size) {
    return L.divIcon({className: "eqreg-pt", iconSize: [size, size],
                      html: '<span style="background:' + color + '"></span>'});
  }

  /* markercluster: a cluster takes the colour of its commonest stage. */
  function clusterIcon(cluster) {
    var counts = {}, best = null;
    cluster.getAllChildMarkers().forEach(function (m) {
      var s = m.options.stage; counts[s] = (counts[s] || 0) + 1;
      if (best === null || counts[s] > counts[best]) { best = s; }
    });
    return bubble(cluster.getChildCount(), best);
  }
  function bubble(count, stage) {
    var size = Math.round(22 + 8 * Math.log10(Math.max(count, 1)));
    return L.divIcon({className: "eqreg-bubble", iconSize: [size, size],
                      html: '<span style="background:' + stageColor(stage) + '">' + count + "</span>"});
  }

  function metricColor(metric, value) {
    if (value == null) { return NO_DATA; }
    for (var i = 0; i < metric.breaks.length; i++) {
      if (value <= metric.breaks[i]) { return metric.colors[i]; }
    }
    return metric.colors[metric.colors.length - 1];
  }

  function T(key, values) {  // the page's text in the UI language (web/maps/views.py MAP_TEXT)
    return String(cfg.options.text[key]).replace(/\{(\w+)\}/g, function (_m, name) { return values[name]; });
  }
  function money(value) { return value == null ? "—" : num(value) + " " + T("wan_yuan"); }
  function row(label, html) { return "<tr><th>" + esc(label) + "</th><td>" + html + "</td></tr>"; }

  function townPopup(p) {
    var rows = cfg.options.metrics.map(function (m) { return row(m.label, esc(metricText(m, p[m.key]))); });
    rows.push(row(T("total_investment"), esc(money(p.total_investment))));
    return "<b>" + esc(p.name) + "</b><table class='eqreg-table'>" + rows.join("") + "</table>" +
      "<a href='" + esc(cfg.options.townUrl + p.code) + "'>" + esc(T("view_town")) + "</a>";
  }

  function styleTowns() {
    var metric = cfg.options.metrics.filter(function (m) { return m.key === cfg.metric; })[0];
    cfg.towns.setStyle(function (f) {
      var focus = f.properties.code === cfg.options.highlight;
      return {fillColor: metricColor(metric, f.properties[metric.key]), fillOpacity: 0.55,
              color: focus ? "#c00" : "#555", weight: focus ? 3 : 1};
    });
    renderLegend(metric);
  }

  function renderLegend(metric) {
    var html = "<div class='eqreg-legend-title'>" + esc(T("town_figures")) + "</div>";
    cfg.options.metrics.forEach(function (m) {
      html += "<label><input type='radio' name='eqreg-metric' value='" + m.key + "'" +
        (m.key === metric.key ? " checked" : "") + "> " + esc(m.label) +
        (m.unit ? "（" + esc(m.unit) + "）" : "") + "</label><br>";
    });
    var lower = null;
    metric.breaks.forEach(function (upper, i) {
      html += "<div><i style='background:" + metric.colors[i] + "'></i>" +
        (lower == null ? "≤ " : esc(metricValue(metric, lower)) + " – ") + esc(metricValue(metric, upper)) + "</div>";
      lower = upper;
    });
    html += "<div><i style='background:" + NO_DATA + "'></i>" + esc(T("no_data")) + "</div>";
    html += "<div class='eqreg-legend-title'>" + esc(T("stages")) + "</div>";
    cfg.options.stages.forEach(function (s) {
      html += "<div><i class='eqreg-round' style='background:" + s.color + "'></i>" + esc(s.label) + "</div>";
    });
    html += "<div class='eqreg-status'></div>";
    cfg.legend.getContainer().innerHTML = html;
    cfg.legend.getContainer().querySelectorAll("input[name=eqreg-metric]").forEach(function (input) {
      input.addEventListener("change", function () { cfg.metric = input.value; styleTowns(); });
    });
    setStatus(cfg.status || "");
  }

  function setStatus(text) {
    cfg.status = text;
    var box = cfg.legend.getContainer().querySelector(".eqreg-status");
    if (box) { box.textContent = text; }
  }

  /* Everything a clicked point, line or polygon has to say: what, where, how much, how far along. */
  function projectPopup(p) {
    var rows = [row(T("total_investment"), esc(money(p.total_investment))),
                row(T("completed_investment"), esc(money(p.completed_investment)))];
    if (p.length_km != null) { rows.push(row(T("length"), esc(num(p.length_km, 2)) + " km")); }
    if (p.area_km2 != null) { rows.push(row(T("area"), esc(num(p.area_km2, 3)) + " km²")); }
    var towns = p.towns || [];
    if (towns.length) {
      rows.push(row(T("towns"), towns.map(function (t) {
        return esc(t.name) + (towns.length > 1 || t.share < 0.9995 ? " " + esc(num(t.share * 100, 1)) + "%" : "");
      }).join("<br>")));
    }
    return "<div class='eqreg-popup' data-project-id='" + esc(p.id) + "'><b>" + esc(p.name) + "</b><br>" +
      "<span class='eqreg-code'>" + esc(p.code) + "</span><br>" +
      esc(cfg.options.domains[p.domain] || p.domain) + " · " + esc(stageLabel(p.stage)) +
      "<table class='eqreg-table'>" + rows.join("") + "</table>" +
      "<a href='" + esc(cfg.options.projectUrl + p.id) + "'>" + esc(T("view_project")) + "</a></div>";
  }

  function enabledDomains() {
    var codes = Object.keys(cfg.subgroups);
    var on = codes.filter(function (c) { return cfg.map.hasLayer(cfg.subgroups[c]); });
    return on.length === codes.length ? null : on;
  }

  function clear() {
    Object.keys(cfg.subgroups).forEach(function (c) { cfg.subgroups[c].clearLayers(); });
    cfg.aggregates.clearLayers();
  }

  function drawFeatures(fc) {
    var heat = [];
    fc.features.forEach(function (f) {
      var p = f.properties, target = cfg.subgroups[p.domain] || cfg.aggregates;
      var g = f.geometry, color = stageColor(p.stage);
      if (g.type === "Point" || g.type === "MultiPoint") {
        var points = g.type === "Point" ? [g.coordinates] : g.coordinates;
        points.forEach(function (c) {
          target.addLayer(L.marker([c[1], c[0]], {icon: dot(color, 14), stage: p.stage, title: p.name})
            .bindPopup(projectPopup(p)));
          heat.push([c[1], c[0], 1]);
        });
      } else {
        var line = g.type.indexOf("LineString") >= 0;
        // In their own pane above the town choropleth, so they stay visible and clickable. The
        // popup goes on each drawn part: the cluster group takes the parts out of the L.geoJSON
        // group, which is never on the map itself (a popup bound to it would never open).
        var layer = L.geoJSON(f, {pane: PROJECT_PANE, style: {color: color, weight: line ? 4 : 2,
                                                              fillColor: color, fillOpacity: 0.45},
                                  onEachFeature: function (_f, part) { part.bindPopup(projectPopup(p)); }});
        target.addLayer(layer);
        var centre = layer.getBounds().getCenter();
        heat.push([centre.lat, centre.lng, 1]);
      }
    });
    return heat;
  }

  function drawClusters(fc) {
    return fc.features.map(function (f) {
      var p = f.properties, c = f.geometry.coordinates;
      var lines = cfg.options.stages.filter(function (s) { return p.by_stage[s.code]; })
        .map(function (s) { return esc(s.label) + " " + p.by_stage[s.code]; });
      var marker = L.marker([c[1], c[0]], {icon: bubble(p.count, p.stage), stage: p.stage})
        .bindTooltip("<b>" + esc(T("cluster_count", {n: p.count})) + "</b><br>" + lines.join("<br>"));
      marker.on("click", function () { cfg.map.setView([c[1], c[0]], cfg.map.getZoom() + 2); });
      cfg.aggregates.addLayer(marker);
      return [c[1], c[0], p.count];
    });
  }

  var pending = null, timer = null;
  function load() {
    var b = cfg.map.getBounds(), params = new URLSearchParams(cfg.options.params || {});
    params.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) {
      return v.toFixed(6); }).join(","));
    params.set("zoom", String(Math.round(cfg.map.getZoom())));
    if (cfg.options.crs) { params.set("crs", cfg.options.crs); }
    var domains = enabledDomains();
    if (domains !== null) { params.set("domains", domains.join(",")); }
    if (pending) { pending.abort(); }
    pending = new AbortController();
    setStatus(T("loading"));
    fetch(cfg.options.endpoint + "?" + params.toString(), {signal: pending.signal, credentials: "same-origin",
                                                           headers: {"Accept": "application/geo+json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (fc) {
        clear();
        var heat = fc.mode === "clusters" ? drawClusters(fc) : drawFeatures(fc);
        cfg.heat.setLatLngs(heat);
        var count = fc.features.reduce(function (n, f) { return n + (f.properties.count || 1); }, 0);
        setStatus(T(fc.mode === "clusters" ? "status_clusters" : fc.truncated ? "status_truncated" : "status_features",
                    {n: count}));
        var box = cfg.map.getContainer();
        box.dataset.eqregMode = fc.mode;
        box.dataset.eqregCount = String(count);
        if (!document.documentElement.dataset.mapReady) {  // ms since navigation: bench/map_page.py
          document.documentElement.dataset.mapReady = String(Math.round(performance.now()));
        }
      })
      .catch(function (err) {
        if (err.name === "AbortError") { return; }
        setStatus(T("load_failed"));
        console.error("project layer:", err);
      });
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(load, 150); }

  /* Large registries (options.tiles, see web/maps/views.py): the projects as vector tiles from
   * /api/v1/map/tiles (registry/map_tiles.py), drawn by the vendored leaflet-vector-tile-layer.
   * The same looks as above: a project is a dot, line or area in its stage colour with the same
   * popup; a grid cluster is a bubble in its commonest stage's colour showing its count, with the
   * per-stage counts on hover, and a click zooms in. Domain layers switch the tiles' filter. */
  var tiles = null, tileFeatures = new Set();
  var TILE_TYPES = {1: "point", 2: "line", 3: "polygon"};

  function tileUrl() {
    var params = new URLSearchParams(cfg.options.params || {}), domains = enabledDomains();
    if (domains !== null) { params.set("domains", domains.join(",")); }
    var query = params.toString();
    return cfg.options.tiles + (query ? "?" + query : "");
  }
  function bubbleSize(count) { return Math.round(22 + 8 * Math.log10(Math.max(count, 1))); }
  function tileStyle(feature, layerName) {
    if (layerName === "clusters") { return {interactive: true}; }
    var color = stageColor(feature.properties.stage), kind = TILE_TYPES[feature.type];
    if (kind === "point") {
      return {interactive: true, radius: 7, color: "#fff", weight: 2, fillColor: color, fillOpacity: 1};
    }
    return {interactive: true, color: color, weight: kind === "line" ? 4 : 2, fillColor: color, fillOpacity: 0.45};
  }
  function tileFeatureLayer(feature, layerName, pxPerExtent, style) {
    if (layerName !== "clusters") {
      return VectorTileLayer.defaultFeatureLayer(feature, layerName, pxPerExtent, style);
    }
    var self = VectorTileLayer.featureLayerBase(feature, layerName, pxPerExtent, style);
    var p = feature.properties, at = self.scalePoint(feature.loadGeometry()[0][0]), size = bubbleSize(p.count);
    var group = L.SVG.create("g"), circle = L.SVG.create("circle"), label = L.SVG.create("text");
    [["cx", at.x], ["cy", at.y], ["r", size / 2 - 1], ["fill", stageColor(p.stage)], ["fill-opacity", 0.85],
     ["stroke", "rgba(255,255,255,.8)"], ["stroke-width", 2]].forEach(function (a) { circle.setAttribute(a[0], a[1]); });
    [["x", at.x], ["y", at.y], ["text-anchor", "middle"], ["dominant-baseline", "central"], ["fill", "#fff"],
     ["font-family", "sans-serif"], ["font-size", 11], ["font-weight", "bold"]].forEach(function (a) {
      label.setAttribute(a[0], a[1]); });
    label.textContent = String(p.count);
    group.appendChild(circle);
    group.appendChild(label);
    group.setAttribute("class", "eqreg-vt-bubble");
    self.graphics = group;
    self.setStyle = function (extra) { VectorTileLayer.applyBasicStyle(group, L.extend({}, style, extra)); };
    self.applyOptions(style);
    return self;
  }
  function tileProject(layer) {  // the popup's properties: towns travel as JSON text in a tile
    var p = L.extend({}, layer.feature.properties);
    p.towns = p.towns ? JSON.parse(p.towns) : [];
    return p;
  }
  function clusterTooltip(p) {
    var counts = JSON.parse(p.by_stage || "{}");
    var lines = cfg.options.stages.filter(function (s) { return counts[s.code]; })
      .map(function (s) { return esc(s.label) + " " + counts[s.code]; });
    return "<b>" + esc(T("cluster_count", {n: p.count})) + "</b><br>" + lines.join("<br>");
  }
  function tilesLoaded() {  // status, heat and the readiness mark from the features now drawn
    var box = cfg.map.getContainer(), origin = box.getBoundingClientRect(), heat = [], count = 0, grouped = false;
    tileFeatures.forEach(function (layer) {
      var clustered = layer.layerName === "clusters", n = clustered ? layer.feature.properties.count : 1;
      var r = layer.graphics.getBoundingClientRect();
      var at = cfg.map.containerPointToLatLng([r.left + r.width / 2 - origin.left, r.top + r.height / 2 - origin.top]);
      grouped = grouped || clustered;
      count += n;
      heat.push([at.lat, at.lng, n]);
    });
    cfg.heat.setLatLngs(heat);
    setStatus(T(grouped ? "status_clusters" : "status_features", {n: count}));
    box.dataset.eqregMode = "tiles";
    box.dataset.eqregCount = String(count);
    if (!document.documentElement.dataset.mapReady) {  // ms since navigation: bench/map_page.py
      document.documentElement.dataset.mapReady = String(Math.round(performance.now()));
    }
  }
  function showTiles() {
    if (tiles) { cfg.map.removeLayer(tiles); tileFeatures.clear(); }
    tiles = VectorTileLayer(tileUrl(), {pane: PROJECT_PANE, style: tileStyle, featureToLayer: tileFeatureLayer,
                                       fetchOptions: {credentials: "same-origin"}, maxZoom: 18,
                                       layerOrder: function () { return ["projects", "clusters"]; }});
    var add = tiles.addFeatureLayer, remove = tiles.removeFeatureLayer;  // keep a list for tilesLoaded
    tiles.addFeatureLayer = function (layer) { tileFeatures.add(layer); return add(layer); };
    tiles.removeFeatureLayer = function (layer) { tileFeatures.delete(layer); return remove(layer); };
    tiles.on("tileloadstart", function (e) { e.tile.style.overflow = "visible"; });  // bubbles across edges
    tiles.on("tileload", function (e) {  // bubbles above the next tile's lines and areas, as markers are
      if (e.tile.querySelector(".eqreg-vt-bubble")) { e.tile.style.zIndex = 1; }
    });
    tiles.on("loading", function () { setStatus(T("loading")); });
    tiles.on("load", tilesLoaded);
    tiles.on("tileerror", function (e) { setStatus(T("load_failed")); console.error("project tiles:", e.error); });
    tiles.on("click", function (e) {
      L.DomEvent.stop(e);
      if (e.layer.layerName === "clusters") { cfg.map.setView(e.latlng, cfg.map.getZoom() + 2); return; }
      L.popup({maxWidth: 320}).setLatLng(e.latlng).setContent(projectPopup(tileProject(e.layer))).openOn(cfg.map);
    });
    var hover = null;
    tiles.on("mouseover", function (e) {
      if (e.layer.layerName !== "clusters") { return; }
      hover = L.tooltip({direction: "top"}).setLatLng(e.latlng).setContent(clusterTooltip(e.layer.feature.properties));
      hover.addTo(cfg.map);
    });
    tiles.on("mouseout", function () { if (hover) { cfg.map.removeLayer(hover); hover = null; } });
    tiles.addTo(cfg.map);
  }

  function basemapControl() {
    var control = L.control({position: "bottomleft"});
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "eqreg-box eqreg-basemaps");
      div.innerHTML = esc(T("basemap")) + cfg.options.basemaps.map(function (b) {
        return b.active ? "<b>" + esc(b.label) + "</b>" : "<a href='" + esc(b.href) + "'>" + esc(b.label) + "</a>";
      }).join(" | ");
      return div;
    };
    return control;
  }

  /* The search box: a code or a name → the matching projects; choosing one zooms to it and opens
   * its popup (a popup of its own, so it does not depend on the project being drawn at that zoom). */
  function searchControl() {
    var control = L.control({position: "topleft"});
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "eqreg-box eqreg-search");
      div.innerHTML = "<form role='search'><input type='search' name='q' aria-label='" + esc(T("search")) +
        "' placeholder='" + esc(T("search_placeholder")) + "'> <button type='submit'>" + esc(T("search")) +
        "</button></form><ul class='eqreg-search-results'></ul>";
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      div.querySelector("form").addEventListener("submit", function (e) {
        e.preventDefault();
        search(div.querySelector("input").value, div.querySelector("ul"));
      });
      return div;
    };
    return control;
  }

  function search(q, list) {
    q = q.trim();
    list.innerHTML = "";
    if (!q) { return; }
    var params = new URLSearchParams(cfg.options.params || {});
    params.set("q", q);
    if (cfg.options.crs) { params.set("crs", cfg.options.crs); }
    fetch(cfg.options.searchEndpoint + "?" + params.toString(), {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (fc) {
        if (!fc.features.length) { list.innerHTML = "<li>" + esc(T("not_found")) + "</li>"; return; }
        if (fc.features.length === 1) { showFound(fc.features[0]); return; }
        fc.features.forEach(function (f) {
          var item = L.DomUtil.create("li", "", list), link = L.DomUtil.create("a", "", item);
          link.href = "#";
          link.textContent = f.properties.name + " · " + f.properties.code;
          link.addEventListener("click", function (e) {
            L.DomEvent.stop(e);  // the link is about to leave the page: the map must not see the click
            list.innerHTML = "";
            showFound(f);
          });
        });
      })
      .catch(function (err) { list.innerHTML = "<li>" + esc(T("load_failed")) + "</li>"; console.error("search:", err); });
  }

  function showFound(f) {
    var shape = L.geoJSON(f), bounds = shape.getBounds();
    var g = f.geometry, at = g.type === "Point" ? L.latLng(g.coordinates[1], g.coordinates[0]) : bounds.getCenter();
    if (g.type.indexOf("LineString") >= 0) {  // on the line itself, not beside it
      var layers = shape.getLayers(), coords = layers[0].getLatLngs();
      coords = Array.isArray(coords[0]) ? coords[0] : coords;
      at = coords[Math.floor(coords.length / 2)];
    }
    cfg.map.fitBounds(bounds, {maxZoom: 16, animate: false, padding: [40, 40]});
    L.popup({maxWidth: 320}).setLatLng(at).setContent(projectPopup(f.properties)).openOn(cfg.map);
  }

  /* One button (shown on phones by the page's CSS) that folds the layer list, legend and basemap
   * choice away and back, so they do not cover a small map. */
  function controlsToggle() {
    var control = L.control({position: "topright"});
    control.onAdd = function () {
      var button = L.DomUtil.create("button", "eqreg-box eqreg-controls-toggle");
      button.type = "button";
      button.textContent = T("layers");
      button.setAttribute("aria-expanded", "false");
      L.DomEvent.disableClickPropagation(button);
      button.addEventListener("click", function () {
        var open = cfg.map.getContainer().classList.toggle("eqreg-controls-open");
        button.setAttribute("aria-expanded", String(open));
      });
      return button;
    };
    return control;
  }

  function init(config) {
    cfg = config;
    cfg.metric = cfg.options.metrics[0].key;
    cfg.map.createPane(PROJECT_PANE).style.zIndex = 450;
    // bottom left, stacked upwards: scale (metric only), basemap choice, legend (the layer list has the right)
    L.control.scale({imperial: false, position: "bottomleft"}).addTo(cfg.map);
    localiseControls(cfg.map, cfg.options.text);
    searchControl().addTo(cfg.map);
    controlsToggle().addTo(cfg.map);
    basemapControl().addTo(cfg.map);
    cfg.legend = L.control({position: "bottomleft"});
    cfg.legend.onAdd = function () { return L.DomUtil.create("div", "eqreg-box eqreg-legend"); };
    cfg.legend.addTo(cfg.map);
    cfg.towns.eachLayer(function (layer) {
      var p = layer.feature.properties;
      // a little above the centre, where a town-seat project often sits
      layer.bindTooltip(esc(p.name), {permanent: true, direction: "center", offset: [0, -16],
                                     className: "eqreg-town-label"});
      layer.bindPopup(townPopup(p));
    });
    styleTowns();
    if (cfg.options.bounds) {  // synchronous (no animation), so the first load sees the fitted view
      cfg.map.fitBounds(cfg.options.bounds, {padding: [24, 24], animate: false});
    }
    var refresh = cfg.options.tiles ? showTiles : schedule;
    if (!cfg.options.tiles) { cfg.map.on("moveend", schedule); }
    cfg.map.on("overlayadd overlayremove", function (e) {
      if (Object.keys(cfg.subgroups).some(function (c) { return cfg.subgroups[c] === e.layer; })) { refresh(); }
    });
    if (cfg.options.tiles) { showTiles(); } else { load(); }
  }

  // the formatting and colour helpers, shared with the roll-up map (web/static/js/rollup_map.js)
  // Leaflet's own control titles are English: give them the UI language's (text.zoom_in, …).
  function localiseControls(map, text) {
    var root = map.getContainer();
    [[".leaflet-control-zoom-in", text.zoom_in], [".leaflet-control-zoom-out", text.zoom_out],
     [".leaflet-control-layers-toggle", text.layers_toggle]].forEach(function (pair) {
      var node = root.querySelector(pair[0]);
      if (node && pair[1]) { node.title = pair[1]; node.setAttribute("aria-label", pair[1]); }
    });
    if (map.attributionControl) { map.attributionControl.setPrefix("Leaflet"); }
  }

  window.EqregMap = {init: init, clusterIcon: clusterIcon, esc: esc, num: num, metricValue: metricValue,
                     metricColor: metricColor, localiseControls: localiseControls};
})();
