// Dashboard charts (Chart.js, served locally). Data comes from the page's #dashboard-data JSON.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#2f6fb0", "#e07b39", "#3a9d5d", "#c44e52", "#8172b2", "#937860",
                 "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"];
  document.querySelectorAll("canvas.chart").forEach(function (canvas) {
    var group = data.groups[canvas.dataset.group];
    if (!group || group.labels.length === 0) { canvas.remove(); return; }
    var byCount = canvas.dataset.group === "stage";
    new Chart(canvas, {
      type: byCount ? "doughnut" : "bar",
      data: {
        labels: group.labels,
        datasets: [{
          label: byCount ? data.labels.count : data.labels.investment,
          data: byCount ? group.counts : group.investment,
          backgroundColor: byCount ? palette : palette[0]
        }]
      },
      options: { responsive: true, animation: false,
                 plugins: { legend: { display: byCount } } }
    });
  });
})();
