// Progress chart on a project page: cumulative completed investment (万元) and physical progress (%) per
// reporting month (current reports only). Chart.js is served locally (web/static/vendor/chartjs).
// Labels come from the canvas's data-* attributes (in the UI language).
(function () {
  "use strict";
  var canvas = document.getElementById("progress-chart");
  var source = document.getElementById("progress-data");
  if (!canvas || !source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent), text = canvas.dataset;
  new Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        { label: text.completedLabel, data: data.completed, yAxisID: "money", borderColor: "#1f5f9e",
          backgroundColor: "#1f5f9e", spanGaps: true, stepped: false },
        { label: text.percentLabel, data: data.percent, yAxisID: "percent", borderColor: "#e67e22",
          backgroundColor: "#e67e22", spanGaps: true, borderDash: [4, 3] }
      ]
    },
    options: {
      animation: false,
      scales: {
        money: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: text.moneyUnit } },
        percent: { type: "linear", position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                   title: { display: true, text: "%" } }
      }
    }
  });
})();
