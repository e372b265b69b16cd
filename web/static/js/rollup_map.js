/* Roll-up map of a province or city: its districts coloured by a metric chosen in the legend
 * (investment density, completion rate, project count), each with a popup of its figures and a
 * link to its district map. The Folium page creates the layer; EqregRollup.init wires it up.
 * Needs web/static/js/project_map.js (its formatting helpers). */
var EqregRollup = (function () {
  "use strict";
  var NO_DATA = "#d9d9d9";
  // the district map's helpers (web/static/js/project_map.js, loaded first)
  var esc = EqregMap.esc, num = EqregMap.num, metricValue = EqregMap.metricValue,
      metricColor = EqregMap.metricColor;

  function init(cfg) {
    var options = cfg.options, text = options.text, metric = options.metrics[0];

    function popup(p) {
      var rows = options.metrics.map(function (m) {
        return "<tr><th>" + esc(m.label) + "</th><td>" + esc(metricValue(m, p[m.key])) +
          (m.unit && p[m.key] != null ? " " + esc(m.unit) : "") + "</td></tr>";
      });
      rows.push("<tr><th>" + esc(text.total_investment) + "</th><td>" + esc(num(p.total_investment)) + " " +
                esc(text.wan_yuan) + "</td></tr>");
      rows.push("<tr><th>" + esc(text.completed_investment) + "</th><td>" + esc(num(p.completed_investment)) +
                " " + esc(text.wan_yuan) + "</td></tr>");
      return "<b>" + esc(p.name) + "</b> <span class='eqreg-code'>" + esc(p.code) + "</span>" +
        "<table class='eqreg-table'>" + rows.join("") + "</table>" +
        "<a class='eqreg-district-link' href='" + esc(options.districtUrl + encodeURIComponent(p.code)) + "'>" +
        esc(text.view_district) + "</a>";
    }

    function style() {
      cfg.districts.eachLayer(function (layer) {
        layer.setStyle({fillColor: metricColor(metric, layer.feature.properties[metric.key]), fillOpacity: 0.65,
                        color: "#555", weight: 1});
      });
      legend.getContainer().innerHTML = legendHtml();
      legend.getContainer().querySelectorAll("input[name=eqreg-metric]").forEach(function (input) {
        input.addEventListener("change", function () {
          metric = options.metrics.filter(function (m) { return m.key === input.value; })[0];
          style();
        });
      });
    }

    function legendHtml() {
      var html = "<div class='eqreg-legend-title'>" + esc(text.metric) + "</div>";
      options.metrics.forEach(function (m) {
        html += "<label><input type='radio' name='eqreg-metric' value='" + esc(m.key) + "'" +
          (m.key === metric.key ? " checked" : "") + "> " + esc(m.label) + "</label><br>";
      });
      var lower = null;
      metric.breaks.forEach(function (upper, i) {
        html += "<div><i style='background:" + metric.colors[i] + "'></i>" +
          (lower == null ? "≤ " : esc(metricValue(metric, lower)) + " – ") + esc(metricValue(metric, upper)) + "</div>";
        lower = upper;
      });
      return html + "<div><i style='background:" + NO_DATA + "'></i>" + esc(text.no_data) + "</div>";
    }

    var legend = L.control({position: "bottomleft"});
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "eqreg-box eqreg-legend");
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    legend.addTo(cfg.map);
    L.control.scale({imperial: false}).addTo(cfg.map);
    EqregMap.localiseControls(cfg.map, text);

    cfg.districts.eachLayer(function (layer) {
      var p = layer.feature.properties;
      layer.bindTooltip(esc(p.name), {sticky: true});
      layer.bindPopup(popup(p));
      var element = layer.getElement && layer.getElement();
      if (element) { element.setAttribute("data-district", p.code); }  // tests click a district by code
    });
    style();
    if (cfg.districts.getLayers().length) {
      cfg.map.fitBounds(cfg.districts.getBounds(), {animate: false, padding: [8, 8]});
    }
    if (!document.documentElement.dataset.mapReady) {  // ms since navigation: bench/rollup_map.py
      document.documentElement.dataset.mapReady = String(Math.round(performance.now()));
    }
  }

  return {init: init};
})();
