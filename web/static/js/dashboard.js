// Dashboard charts (Chart.js, served locally). Data comes from the page's #dashboard-data JSON;
// clicking a bar or slice opens the project list filtered to it (the month chart: that month's
// not-reported list).
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#2f6fb0", "#e07b39", "#3a9d5d", "#c44e52", "#8172b2", "#937860",
                 "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"];

  function follow(group) {
    return function (event, elements) {
      if (elements.length && group.links && group.links[elements[0].index]) {
        window.location.href = group.links[elements[0].index];
      }
    };
  }

  function pointer(event, elements) {
    event.native.target.style.cursor = elements.length ? "pointer" : "default";
  }

  // The month's increase stacked by domain (one bar of the total when no domain reported yet),
  // and the cumulative figure as a line on its own axis.
  function monthChart(canvas, group) {
    var bars = group.by_domain.length ? group.by_domain : [{ label: data.labels.increase, data: group.increase }];
    var datasets = bars.map(function (domain, i) {
      return { type: "bar", label: domain.label, data: domain.data, stack: "increase",
               backgroundColor: palette[i % palette.length], yAxisID: "increase" };
    });
    datasets.push({ type: "line", label: data.labels.cumulative, data: group.cumulative,
                    borderColor: "#333", backgroundColor: "#333", yAxisID: "cumulative" });
    return new Chart(canvas, {
      data: { labels: group.labels, datasets: datasets },
      options: { responsive: true, animation: false, onClick: follow(group), onHover: pointer,
                 scales: { x: { stacked: true },
                           increase: { position: "left", stacked: true, beginAtZero: true,
                                       title: { display: true, text: data.labels.increase } },
                           cumulative: { position: "right", beginAtZero: true,
                                         grid: { drawOnChartArea: false },
                                         title: { display: true, text: data.labels.cumulative } } } }
    });
  }

  document.querySelectorAll("canvas.chart").forEach(function (canvas) {
    var group = data.groups[canvas.dataset.group];
    if (!group || group.labels.length === 0) { canvas.remove(); return; }
    if (canvas.dataset.group === "month") { monthChart(canvas, group); return; }
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
      options: { responsive: true, animation: false, onClick: follow(group), onHover: pointer,
                 plugins: { legend: { display: byCount } } }
    });
  });
})();
