/* basewatch zone charts on the vendored uPlot (MIT): a focus chart and an overview strip.
 *
 * Each div.bwchart reads the JSON of the script element named by its data-source, written by
 * basewatch.report.html._chart_data and draws:
 *  - the focus chart, full width: one series per sensor (filled: conclusive, hollow: not),
 *    red rings on significant observations, the expected level (dashed) and the usual range
 *    (grey band) of the main series, change windows shaded in orange and labelled;
 *    drag across it to zoom, double-click to see the whole series; the legend under it gives
 *    the values under the cursor;
 *  - an overview strip of the whole series with the focus range selected: drag on it to
 *    choose the range the focus chart shows;
 *  - buttons: "around the latest change", "whole series", "last 30 days".
 * Nothing is loaded from the network.
 */
(function () {
  "use strict";

  function pointsOnly(u, seriesIdx) { return null; }

  function seriesOptions(s) {
    var base = {label: s.label, stroke: s.colour, width: 1, spanGaps: true};
    if (s.kind === "sensor") {
      base.points = {show: true, size: 7, fill: s.colour, stroke: s.colour};
      base.width = 1;
      base.alpha = 0.9;
    } else if (s.kind === "hollow") {
      base.paths = pointsOnly;
      base.points = {show: true, size: 7, fill: "#ffffff", stroke: s.colour, width: 1.5};
    } else if (s.kind === "significant") {
      base.paths = pointsOnly;
      base.points = {show: true, size: 15, fill: "rgba(0,0,0,0)", stroke: s.colour, width: 2};
    } else if (s.kind === "expected") {
      base.dash = [6, 4];
      base.width = 1.4;
      base.points = {show: false};
      base.paths = uPlot.paths.stepped({align: 1});
    } else if (s.kind === "band-high" || s.kind === "band-low") {
      base.width = 0;
      base.points = {show: false};
      base.paths = uPlot.paths.stepped({align: 1});
    }
    return base;
  }

  function changeHook(data, labels) {
    return function (u) {
      var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
      ctx.save();
      ctx.font = "600 " + Math.round(12 * devicePixelRatio) + "px system-ui, sans-serif";
      data.changes.forEach(function (c) {
        var x0 = u.valToPos(c.after, "x", true), x1 = u.valToPos(c.before, "x", true);
        if (x1 < u.bbox.left || x0 > u.bbox.left + u.bbox.width) { return; }
        var w = Math.max(x1 - x0, 2 * devicePixelRatio);
        if (!labels) {  // shading under the series (drawClear), labels over them (draw)
          ctx.fillStyle = c.significant ? "rgba(243,156,18,0.28)" : "rgba(243,156,18,0.12)";
          ctx.fillRect(x0, top, w, height);
          return;
        }
        if (!c.label) { return; }
        var text = c.label + (c.significant ? "" : " (not significant)");
        var tw = ctx.measureText(text).width, pad = 3 * devicePixelRatio;
        var tx = Math.min(x0 + w + 4 * devicePixelRatio, u.bbox.left + u.bbox.width - tw - 2 * pad);
        var ty = top + 4 * devicePixelRatio, th = 15 * devicePixelRatio;
        ctx.fillStyle = "rgba(255,255,255,0.9)";
        ctx.fillRect(tx - pad, ty - pad / 2, tw + 2 * pad, th);
        ctx.fillStyle = "#7a4500";
        ctx.textBaseline = "top";
        ctx.textAlign = "left";
        ctx.fillText(text, tx, ty);
      });
      ctx.restore();
    };
  }

  function build(el) {
    var data = JSON.parse(document.getElementById(el.dataset.source).textContent);
    var x = data.x;
    var aligned = [x].concat(data.series.map(function (s) { return s.values; }));
    var opts = data.series.map(seriesOptions);
    var hi = data.series.findIndex(function (s) { return s.kind === "band-high"; });
    var lo = data.series.findIndex(function (s) { return s.kind === "band-low"; });
    var bands = hi >= 0 && lo >= 0 ? [{series: [hi + 1, lo + 1], fill: "rgba(149,165,166,0.28)"}] : [];
    var width = Math.max(320, el.clientWidth || 900);
    var yAxis = {label: data.metric, labelSize: 20, size: 44,
                 font: "13px system-ui, sans-serif", labelFont: "13px system-ui, sans-serif",
                 grid: {stroke: "#e3e6e8"}};
    if (data.integer) { yAxis.incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500]; }
    var whole = [x[0], x[x.length - 1]];
    if (whole[1] <= whole[0]) { whole = [whole[0] - 86400, whole[1] + 86400]; }
    var initial = data.focus || whole;
    var focusEl = document.createElement("div");
    var overviewEl = document.createElement("div");
    var buttons = document.createElement("div");
    buttons.className = "bwchart-range";
    el.appendChild(buttons);
    el.appendChild(focusEl);
    el.appendChild(overviewEl);
    var overview;
    var focus = new uPlot({
      width: width, height: 300,
      scales: {x: {time: true, min: initial[0], max: initial[1]},
               y: {range: function (u, mn, mx) { return [Math.min(0, mn), Math.max(1, mx) * 1.1 + 0.5]; }}},
      series: [{label: "time (UTC)"}].concat(opts),
      bands: bands,
      axes: [{font: "13px system-ui, sans-serif", grid: {stroke: "#e3e6e8"}}, yAxis],
      cursor: {drag: {x: true, y: false, setScale: true}},
      legend: {live: true},
      hooks: {
        drawClear: [changeHook(data, false)],
        draw: [changeHook(data, true)],
        setScale: [function (u, key) {
          if (key !== "x" || !overview) { return; }
          var l = overview.valToPos(u.scales.x.min, "x"), r = overview.valToPos(u.scales.x.max, "x");
          overview.setSelect({left: l, width: Math.max(r - l, 2), top: 0,
                              height: overview.over.clientHeight}, false);
          el.dataset.range = Math.round(u.scales.x.min) + "," + Math.round(u.scales.x.max);
        }]
      }
    }, aligned, focusEl);
    focusEl.classList.add("bwchart-focus");
    if (lo >= 0) {  // the band's lower edge is one legend entry with its upper edge
      var entries = focusEl.querySelectorAll(".u-legend .u-series");
      if (entries[lo + 1]) { entries[lo + 1].style.display = "none"; }
    }
    overview = new uPlot({
      width: width, height: 90,
      scales: {x: {time: true, min: whole[0], max: whole[1]}, y: {auto: true}},
      series: [{}].concat(opts.map(function (o, i) {
        var s = data.series[i];
        return {stroke: o.stroke, width: s.kind === "sensor" ? 1 : 0, spanGaps: true,
                points: {show: false}, dash: o.dash};
      })),
      bands: bands,
      axes: [{font: "11px system-ui, sans-serif", size: 26, grid: {show: false}},
             {show: false}],
      legend: {show: false},
      cursor: {drag: {x: true, y: false, setScale: false}, points: {show: false}},
      hooks: {
        drawClear: [changeHook(data, false)],
        setSelect: [function (u) {
          if (u.select.width < 3) { return; }
          var a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
          focus.setScale("x", {min: a, max: b});
        }]
      }
    }, aligned, overviewEl);
    overviewEl.classList.add("bwchart-overview");
    overviewEl.title = "drag to choose the period shown above";
    var ranges = [];
    if (data.focus) { ranges.push(["around the latest change", data.focus]); }
    ranges.push(["whole series", whole]);
    ranges.push(["last 30 days", [Math.max(whole[0], whole[1] - 30 * 86400), whole[1]]]);
    ranges.forEach(function (r) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = r[0];
      b.addEventListener("click", function () { focus.setScale("x", {min: r[1][0], max: r[1][1]}); });
      buttons.appendChild(b);
    });
    focus.setScale("x", {min: initial[0], max: initial[1]});
    window.addEventListener("resize", function () {
      var w = Math.max(320, el.clientWidth || 900);
      focus.setSize({width: w, height: 300});
      overview.setSize({width: w, height: 90});
    });
    el.bwChart = focus;
    el.dataset.ready = "true";
  }

  function init() {
    document.querySelectorAll("div.bwchart").forEach(function (el) {
      if (!el.dataset.ready) { build(el); }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  window.bwCharts = init;
})();
