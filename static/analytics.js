// The room analytics page: draws its charts with the vendored Chart.js from the live fragment's
// data-chart attribute, and keeps the page steady while htmx swaps that fragment every 10 s:
// the canvases survive the swap (hx-preserve) and their charts are updated in place, without
// animation, and the details a reader had opened are opened again. Without this file (or
// without JavaScript) every chart still has its table and CSV download.
(function () {
  "use strict";

  var LIVE = "analytics-live";
  var charts = {};  // kind -> Chart
  var series = {};  // kind -> the data its tooltips read
  var reopen = [];

  function chartData() {
    var root = document.getElementById(LIVE);
    if (!root || !root.dataset.chart) return null;
    try {
      return JSON.parse(root.dataset.chart);
    } catch (e) {
      return null;
    }
  }

  function dayLabels(days) {
    var format;
    try {
      format = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
        { month: "short", day: "numeric", timeZone: "UTC" });
    } catch (e) {
      return days;
    }
    return days.map(function (day) { return format.format(new Date(day + "T00:00:00Z")); });
  }

  function config(kind) {
    var horizontal = kind === "items";
    var valueAxis = { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: series[kind].label } };
    return {
      type: "bar",
      data: { labels: [], datasets: [{ label: series[kind].label, data: [], backgroundColor: "#2563eb", maxBarThickness: 28 }] },
      options: {
        indexAxis: horizontal ? "y" : "x",
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              // The spelled-out time ("4 min 20 s"), not the minutes the bar is drawn from.
              label: function (context) { return series[kind].text[context.dataIndex] || ""; }
            }
          }
        },
        scales: horizontal ? { x: valueAxis } : { y: valueAxis }
      }
    };
  }

  function draw() {
    var data = chartData();
    if (!data || typeof window.Chart === "undefined") return;
    ["daily", "items"].forEach(function (kind) {
      var canvas = document.getElementById("chart-" + kind + "-canvas");
      if (!canvas || !data[kind]) return;
      series[kind] = data[kind];
      var labels = kind === "daily" ? dayLabels(data[kind].days) : data[kind].labels;
      var chart = charts[kind];
      if (!chart || chart.canvas !== canvas) {
        if (chart) chart.destroy();
        chart = charts[kind] = new window.Chart(canvas, config(kind));
      }
      chart.data.labels = labels;
      chart.data.datasets[0].data = data[kind].minutes;
      chart.update("none");
    });
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === LIVE) {
      reopen = Array.prototype.map.call(target.querySelectorAll("details[open][id]"),
        function (el) { return el.id; });
    }
  });

  document.addEventListener("htmx:afterSwap", function () {
    if (!document.getElementById(LIVE)) return;
    reopen.forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.open = true;
    });
    reopen = [];
    draw();
  });

  draw();
})();
