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

  // A heatmap is a shaded table on the page; its PNG is painted from the same data on demand.
  function heatmapPng(data, title) {
    var cell = 28, left = 110, top = 52, rows = data.labels.length, cols = data.datasets.length;
    var canvas = document.createElement("canvas");
    canvas.width = left + cols * cell + 8;
    canvas.height = top + rows * cell + 8;
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    var most = 0;
    data.datasets.forEach(function (set) { set.data.forEach(function (v) { most = Math.max(most, v || 0); }); });
    ctx.textBaseline = "middle";
    ctx.font = "bold 14px sans-serif";
    ctx.fillStyle = "#101828";
    ctx.fillText(title, 4, 14);
    ctx.font = "12px sans-serif";
    ctx.textAlign = "center";
    data.datasets.forEach(function (set, c) {
      ctx.fillStyle = "#475467";
      ctx.fillText(set.label, left + c * cell + cell / 2, top - 12);
    });
    data.labels.forEach(function (label, r) {
      ctx.textAlign = "left";
      ctx.fillStyle = "#101828";
      ctx.fillText(label, 4, top + r * cell + cell / 2);
      ctx.textAlign = "center";
      data.datasets.forEach(function (set, c) {
        var v = set.data[r] || 0, x = left + c * cell, y = top + r * cell;
        var strength = most ? v / most : 0;
        // From the palette's lightest blue to its accent.
        ctx.fillStyle = v ? "rgba(47, 91, 234, " + (0.08 + 0.92 * strength).toFixed(3) + ")" : "#f9fafb";
        ctx.fillRect(x + 1, y + 1, cell - 2, cell - 2);
        ctx.fillStyle = strength > 0.6 ? "#fff" : "#101828";
        ctx.fillText(format(v, "count"), x + cell / 2, y + cell / 2);
      });
    });
    return canvas.toDataURL("image/png");
  }

  function heatmap(table) {
    var source = document.getElementById(table.dataset.heatmapJson);
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var link = document.querySelector('.dash-png[data-chart="' + table.id + '"]');
    if (link) {
      link.hidden = false;
      var heading = table.closest("section") && table.closest("section").querySelector("h2");
      var title = heading ? heading.textContent : "";
      link.addEventListener("click", function () { link.href = heatmapPng(data, title); });
    }
    table.dataset.drawn = "1";
  }

  function start() {
    document.querySelectorAll("canvas[data-chart-json]").forEach(draw);
    document.querySelectorAll("table[data-heatmap-json]").forEach(heatmap);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
