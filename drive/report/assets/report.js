// drive report: sortable tables, and each episode's time series drawn with uPlot (shipped beside
// this file). No network: everything this page needs is in the report's folder.
"use strict";

(function () {
  function sortKey(cell) {
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    const number = Number(raw);
    return raw !== "" && Number.isFinite(number) ? number : raw.toLowerCase();
  }

  function makeSortable(table) {
    const headers = table.tHead.rows[0].cells;
    Array.from(headers).forEach(function (header, column) {
      header.addEventListener("click", function () {
        const ascending = header.getAttribute("aria-sort") !== "ascending";
        Array.from(headers).forEach(function (other) { other.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort(function (a, b) {
          const x = sortKey(a.cells[column]);
          const y = sortKey(b.cells[column]);
          const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1;
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function constant(length, value) {
    return new Array(length).fill(value);
  }

  function capped(values, ceiling) {
    return values.map(function (v) { return v === null ? null : Math.min(v, ceiling); });
  }

  function expandRuns(runs, length) {
    const out = new Array(length).fill(null);
    runs.forEach(function (run, k) {
      const stop = k + 1 < runs.length ? runs[k + 1][0] : length;
      for (let i = run[0]; i < stop; i++) out[i] = run[1];
    });
    return out;
  }

  function line(label, colour, dash) {
    const series = { label: label, stroke: colour, width: dash ? 1 : 1.5 };
    if (dash) series.dash = [6, 4];
    return series;
  }

  function chart(element, title, data, series, extra) {
    const width = Math.max(320, element.clientWidth || 760);
    const options = Object.assign(
      {
        title: title,
        width: width,
        height: 170,
        scales: { x: { time: false } },
        axes: [{ label: "time [s]" }, {}],
        series: [{ label: "t [s]" }].concat(series),
      },
      extra || {}
    );
    return new uPlot(options, data, element);
  }

  function drawEpisode(d) {
    const n = d.speed_mps.length;
    const t = Array.from({ length: n }, function (_, i) { return (i + 1) * d.dt_s; });
    const b = d.bounds;
    const panels = document.querySelectorAll("[data-panel]");
    let drawn = 0;
    panels.forEach(function (element) {
      const panel = element.dataset.panel;
      if (panel === "speed") {
        chart(element, "Speed [m/s]", [t, d.speed_mps, d.speed_limit_mps],
          [line("speed", "#1f77b4"), line("limit", "#555", true)]);
      } else if (panel === "acceleration") {
        chart(element, "Longitudinal acceleration [m/s²], comfort bounds", [t, d.longitudinal_acceleration_mps2,
          constant(n, b.min_acceleration_mps2), constant(n, b.max_acceleration_mps2)],
          [line("acceleration", "#1f77b4"), line("min", "#d62728", true), line("max", "#d62728", true)]);
      } else if (panel === "jerk") {
        chart(element, "Longitudinal jerk [m/s³], comfort bound", [t, d.longitudinal_jerk_mps3,
          constant(n, -b.max_abs_jerk_mps3), constant(n, b.max_abs_jerk_mps3)],
          [line("jerk", "#1f77b4"), line("-bound", "#d62728", true), line("+bound", "#d62728", true)]);
      } else if (panel === "lateral") {
        chart(element, "Lateral acceleration [m/s²], comfort bound", [t, d.lateral_acceleration_mps2,
          constant(n, -b.max_abs_lateral_mps2), constant(n, b.max_abs_lateral_mps2)],
          [line("lateral", "#1f77b4"), line("-bound", "#d62728", true), line("+bound", "#d62728", true)]);
      } else if (panel === "gaps") {
        const data = [t, capped(d.ttc_s, b.ceiling_s), capped(d.time_gap_s, b.ceiling_s), constant(n, b.ttc_bound_s)];
        const series = [line("TTC", "#ff7f0e"), line("time gap", "#2ca02c"), line("TTC bound (score)", "#d62728", true)];
        Object.keys(d.thresholds).forEach(function (name) {
          data.push(constant(n, d.thresholds[name]));
          series.push(line(name, "#9467bd", true));
        });
        chart(element, "Time to collision and time gap [s] (drawn up to " + b.ceiling_s + " s)", data, series,
          { scales: { x: { time: false }, y: { range: [0, b.ceiling_s] } } });
      } else if (panel === "lane") {
        chart(element, "Lane index", [t, expandRuns(d.lanes, n)],
          [Object.assign(line("lane", "#000"), { paths: uPlot.paths.stepped({ align: 1 }) })]);
      } else {
        return;
      }
      drawn += 1;
    });
    document.body.dataset.chartsDrawn = String(drawn);
  }

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  const data = document.getElementById("episode-data");
  if (data) drawEpisode(JSON.parse(data.textContent));
})();
