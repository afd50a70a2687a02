// The team dashboard: draws the stage and content charts with the vendored Chart.js, and each
// room's sparkline on its own small canvas (plain 2D drawing: a page may hold hundreds), from
// the data attributes the server wrote (the CSP allows no inline script). htmx swaps the whole
// #team-live block when a filter changes; the charts are drawn again after the swap and the
// address is updated. Without
// this file every chart still has its table and CSV download.
(function () {
  "use strict";

  var LIVE = "team-live";
  var charts = {};

  function data() {
    var root = document.getElementById(LIVE);
    if (!root || !root.dataset.chart) return null;
    try {
      return JSON.parse(root.dataset.chart);
    } catch (e) {
      return null;
    }
  }

  function sparkline(canvas) {
    var values;
    try {
      values = JSON.parse(canvas.dataset.spark || "[]");
    } catch (e) {
      return;
    }
    var ctx = canvas.getContext && canvas.getContext("2d");
    if (!ctx || !values.length) return;
    var w = canvas.width, h = canvas.height, top = Math.max.apply(null, values) || 1;
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = "#2563eb";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach(function (v, i) {
      var x = values.length === 1 ? w / 2 : (i * (w - 2)) / (values.length - 1) + 1;
      var y = h - 2 - (v / top) * (h - 4);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  function bar(kind, series, horizontal) {
    var canvas = document.querySelector("canvas[data-chart-kind='" + kind + "']");
    if (!canvas || !series) return;
    if (charts[kind]) charts[kind].destroy();
    var valueAxis = { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: series.label } };
    charts[kind] = new window.Chart(canvas, {
      type: "bar",
      data: { labels: series.labels, datasets: [{ label: series.label, data: series.values, backgroundColor: "#2563eb", maxBarThickness: 28 }] },
      options: {
        indexAxis: horizontal ? "y" : "x",
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: series.text ? { callbacks: { label: function (c) { return series.text[c.dataIndex] || ""; } } } : {}
        },
        scales: horizontal ? { x: valueAxis } : { y: valueAxis }
      }
    });
  }

  function draw() {
    Array.prototype.forEach.call(document.querySelectorAll("canvas.spark"), sparkline);
    var d = data();
    if (!d || typeof window.Chart === "undefined") return;
    bar("stages", d.stages, false);
    bar("content", d.content, true);
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (!document.getElementById(LIVE)) return;
    // The address follows the filters, so the view can be shared and reloaded. replaceState,
    // not hx-push-url: htmx's history snapshot clones the page, and cloning the canvases
    // Chart.js styled counts as applying inline styles under the CSP.
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.responseURL && window.history.replaceState) {
      window.history.replaceState(null, "", xhr.responseURL);
    }
    draw();
  });

  draw();
})();
