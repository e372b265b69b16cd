// Progress chart on a project page: cumulative completed investment (万元) and physical progress (%) per
// reporting month (current reports only). Chart.js is served locally (web/static/vendor/chartjs).
(function () {
  "use strict";
  var canvas = document.getElementById("progress-chart");
  var source = document.getElementById("progress-data");
  if (!canvas || !source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  new Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        { label: "累计完成投资（万元）", data: data.completed, yAxisID: "money", borderColor: "#1f5f9e",
          backgroundColor: "#1f5f9e", spanGaps: true, stepped: false },
        { label: "形象进度（%）", data: data.percent, yAxisID: "percent", borderColor: "#e67e22",
          backgroundColor: "#e67e22", spanGaps: true, borderDash: [4, 3] }
      ]
    },
    options: {
      animation: false,
      scales: {
        money: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "万元" } },
        percent: { type: "linear", position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                   title: { display: true, text: "%" } }
      }
    }
  });
})();
