// Draws every dashboard chart from its <script type="application/json"> block (no inline
// script: the CSP refuses them), and turns each chart's "Download PNG" link on.
(function () {
  "use strict";
  if (!window.Chart) return;
  var COLOURS = ["#2f5bea", "#98a2b3", "#12b76a", "#f79009", "#7a5af8", "#f04438"];
  var SUFFIX = { share: " %", hours: " h" };
  var locale = document.documentElement.lang || undefined;

  // A white background, so that the PNG is not transparent.
  var background = {
    id: "comptoirBackground",
    beforeDraw: function (chart) {
      var ctx = chart.ctx;
      ctx.save();
      ctx.globalCompositeOperation = "destination-over";
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, chart.width, chart.height);
      ctx.restore();
    },
  };

  function format(value, unit) {
    if (value === null || value === undefined) return "—";
    var digits = unit === "count" ? 0 : 1;
    return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value) +
      (SUFFIX[unit] || "");
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chartJson);
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var datasets = data.datasets.map(function (set, i) {
      var colour = COLOURS[i % COLOURS.length];
      return {
        label: set.label, data: set.data, backgroundColor: colour, borderColor: colour,
        borderWidth: data.type === "line" ? 2 : 0, pointRadius: data.type === "line" ? 2 : 0,
        spanGaps: true,
      };
    });
    var chart = new window.Chart(canvas, {
      type: data.type,
      data: { labels: data.labels, datasets: datasets },
      plugins: [background],
      options: {
        locale: locale, responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {
          legend: { display: datasets.length > 1 },
          tooltip: { callbacks: { label: function (item) {
            return item.dataset.label + ": " + format(item.raw, data.unit);
          } } },
        },
        scales: { y: { beginAtZero: data.unit !== "score", ticks: {
          callback: function (value) { return format(value, data.unit); },
        } } },
      },
    });
    canvas.dataset.drawn = "1";
    var link = document.querySelector('.dash-png[data-chart="' + canvas.id + '"]');
    if (link) {
      link.hidden = false;
      link.addEventListener("click", function () { link.href = chart.toBase64Image("image/png", 1); });
    }
  }

  function start() { document.querySelectorAll("canvas[data-chart-json]").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
