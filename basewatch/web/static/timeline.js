/* basewatch zone timeline: step through every observation of a zone, compare two dates of
 * one sensor side by side, and keep the choice in the URL (?date=, &sensor=, &compare=).
 * Reads the JSON of #timeline-data written by basewatch.report.html.render_timeline. */
(function () {
  "use strict";
  var state = JSON.parse(document.getElementById("timeline-data").textContent);
  var obs = state.observations;
  var current = state.selected, compared = state.compared;
  var sensor = state.sensor || "";
  var pick = document.getElementById("pick"), sensorSel = document.getElementById("sensor");
  var compareSel = document.getElementById("compare"), panes = document.getElementById("panes");
  var rows = document.querySelectorAll("tr.obs");

  function visible() {
    var out = [];
    obs.forEach(function (o, i) { if (!sensor || o.sensor === sensor) { out.push(i); } });
    return out;
  }

  function fill(which, o) {
    var pane = document.getElementById("pane-" + which);
    if (!o) { pane.hidden = true; return; }
    pane.hidden = false;
    pane.querySelector(".pane-title").textContent = o.when + " · " + o.sensor;
    var img = pane.querySelector("img.chip");
    if (img.getAttribute("src") !== o.png) { img.setAttribute("src", o.png); }
    img.alt = "zone " + state.zone_id + " on " + o.when + ", " + o.sensor;
    [["when", o.when], ["sensor", o.sensor], ["clear", o.clear_text], ["count", o.count_text],
     ["boxes", String(o.n_detections)], ["detector", o.detector_text],
     ["judgement", o.judgement], ["scene", o.scene_id]].forEach(function (f) {
      pane.querySelector(".f-" + f[0]).textContent = f[1];
    });
  }

  function compareOptions() {
    var o = obs[current];
    compareSel.innerHTML = "";
    var none = document.createElement("option");
    none.value = ""; none.textContent = "(nothing)";
    compareSel.appendChild(none);
    obs.forEach(function (other, i) {
      if (i === current || other.sensor !== o.sensor) { return; }  // same sensor only
      var opt = document.createElement("option");
      opt.value = String(i);
      opt.textContent = other.when + " · " + other.count_text;
      if (i === compared) { opt.selected = true; }
      compareSel.appendChild(opt);
    });
  }

  function render(push) {
    if (compared !== null && (compared === current || obs[compared].sensor !== obs[current].sensor)) {
      compared = null;
    }
    fill("current", obs[current]);
    fill("compared", compared === null ? null : obs[compared]);
    panes.classList.toggle("single", compared === null);
    pick.value = String(current);
    compareOptions();
    var shown = visible(), at = shown.indexOf(current);
    document.getElementById("prev").disabled = at <= 0;
    document.getElementById("next").disabled = at < 0 || at >= shown.length - 1;
    rows.forEach(function (r) {
      var i = Number(r.dataset.index);
      r.classList.toggle("current", i === current);
      r.classList.toggle("compared", i === compared);
      r.hidden = Boolean(sensor) && r.dataset.sensor !== sensor;
    });
    if (push) {
      var q = new URLSearchParams();
      q.set("date", obs[current].iso);
      if (sensor) { q.set("sensor", sensor); }
      if (compared !== null) { q.set("compare", obs[compared].iso); }
      history.replaceState(null, "", location.pathname + "?" + q.toString());
    }
    document.body.dataset.current = obs[current].iso;
  }

  function step(delta) {
    var shown = visible(), at = shown.indexOf(current);
    if (at < 0) { at = 0; }
    var next = shown[Math.min(Math.max(at + delta, 0), shown.length - 1)];
    if (next !== undefined) { current = next; render(true); }
  }

  document.getElementById("prev").addEventListener("click", function () { step(-1); });
  document.getElementById("next").addEventListener("click", function () { step(1); });
  pick.addEventListener("change", function () { current = Number(pick.value); render(true); });
  compareSel.addEventListener("change", function () {
    compared = compareSel.value === "" ? null : Number(compareSel.value);
    render(true);
  });
  sensorSel.addEventListener("change", function () {
    sensor = sensorSel.value;
    if (sensor && obs[current].sensor !== sensor) {
      var shown = visible();
      if (shown.length) { current = shown[0]; }
    }
    render(true);
  });
  rows.forEach(function (r) {
    r.addEventListener("click", function () { current = Number(r.dataset.index); render(true); });
  });
  document.addEventListener("keydown", function (e) {
    if (e.target && /SELECT|INPUT|TEXTAREA/.test(e.target.tagName)) { return; }
    if (e.key === "ArrowLeft") { step(-1); }
    if (e.key === "ArrowRight") { step(1); }
  });
  render(false);
  document.body.dataset.ready = "true";
})();
