// playpulse local dashboard: polls /api/dashboard and draws every panel with plotly.js (served by
// the app from the installed plotly package; nothing is loaded from the network).
"use strict";

const LAYOUT = {
  paper_bgcolor: "#181b22", plot_bgcolor: "#181b22", font: { color: "#e6e8ee", size: 11 },
  margin: { l: 50, r: 45, t: 30, b: 35 }, legend: { orientation: "h", y: -0.2 },
  xaxis: { gridcolor: "#2a2f3a" }, yaxis: { gridcolor: "#2a2f3a", rangemode: "tozero" },
};
const CONFIG = { displaylogo: false, responsive: true };
let refreshMs = 5000;
let timer = null;

function $(id) { return document.getElementById(id); }
function fmt(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
function pct(value, digits = 2) { return value === null || value === undefined ? "–" : fmt(100 * value, digits) + "%"; }
function time(value) { return value ? value.replace("T", " ").replace(/\.\d+Z$|Z$/, "") : "–"; }
function last(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}
function text(value) {
  const cell = document.createElement("td");
  cell.textContent = value === null || value === undefined ? "" : String(value);
  return cell;
}
function num(value) { const cell = text(value); cell.className = "num"; return cell; }

function chart(id, traces, yaxis = {}, xaxis = {}) {
  const el = $(id);
  const layout = { ...LAYOUT, title: { text: el.dataset.title, font: { size: 13 } },
                   xaxis: { ...LAYOUT.xaxis, ...xaxis }, yaxis: { ...LAYOUT.yaxis, ...yaxis } };
  Plotly.react(el, traces, layout, CONFIG);
  el.dataset.points = String(traces.reduce((n, t) => n + t.x.filter((_, i) => t.y[i] !== null).length, 0));
}
function line(x, y, name, extra = {}) { return { x, y, name, type: "scatter", mode: "lines", connectgaps: false, ...extra }; }

function fillTable(id, rows, render, columns) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  if (!rows || rows.length === 0) {
    const tr = document.createElement("tr");
    const cell = text("no data yet"); cell.colSpan = columns; cell.className = "empty";
    tr.append(cell); body.append(tr); return;
  }
  for (const row of rows) body.append(render(row));
}

// Alerts as shaded bands on the live charts (as Grafana's annotations): under All every alert of
// the range; with a region or device chosen, the alerts on that region or device (and global ones).
function alertBands(alerts, qoe) {
  const chosen = Object.entries({ region: qoe.region, device_type: qoe.device_type }).filter(([, v]) => v !== "*");
  const fits = (a) => {
    if (a.slice === "all") return true;
    const dims = Object.fromEntries(a.slice.split(",").map((pair) => pair.split("=")));
    return chosen.every(([dim, value]) => dims[dim] === value);
  };
  const start = Date.parse(qoe.start), end = Date.parse(qoe.end);
  const inRange = (a) => Date.parse(a.started_at) <= end && Date.parse(a.ended_at || qoe.end) >= start;
  return (alerts || []).filter((a) => fits(a) && inRange(a)).map((a) => ({
    type: "rect", xref: "x", yref: "paper", y0: 0, y1: 1,
    x0: new Date(Math.max(Date.parse(a.started_at), start)).toISOString(),
    x1: new Date(Math.min(Date.parse(a.ended_at || qoe.end), end)).toISOString(),
    fillcolor: a.state === "resolved" ? "rgba(70,167,88,0.12)" : "rgba(229,72,77,0.15)", line: { width: 0 },
  }));
}

function drawQoe(qoe, alerts) {
  if (!qoe) return;
  const s = qoe.series;
  $("qoe-range").textContent = `${time(qoe.start)} – ${time(qoe.end)} UTC` + (qoe.stale ? " (no newer data)" : "");
  chart("chart-vst", [line(s.time, s.vst_p50_ms, "p50"), line(s.time, s.vst_p95_ms, "p95"), line(s.time, s.vst_p99_ms, "p99")],
        { title: { text: "ms" } });
  chart("chart-rebuffer", [line(s.time, s.rebuffer_ratio, "rebuffer ratio")], { tickformat: ".2%" });
  chart("chart-failures", [line(s.time, s.start_failure_pct, "start failures %"), line(s.time, s.ebvs_pct, "EBVS %"),
                           line(s.time, s.playback_failure_pct, "playback failures %")], { title: { text: "%" } });
  chart("chart-plays", [line(s.time, s.attempts, "attempts / min"), line(s.time, s.starts, "starts / min"),
                        line(s.time, s.concurrent_plays, "concurrent plays")]);
  fillTable("regions", qoe.by_region, (r) => {
    const tr = document.createElement("tr");
    tr.append(text(r.region), num(fmt(r.plays)), num(fmt(r.vst_p95_ms) + " ms"), num(pct(r.rebuffer_ratio)),
              num(fmt(r.start_failure_pct, 2) + "%"), num(fmt(r.ebvs_pct, 2) + "%"));
    return tr;
  }, 6);
  const bands = alertBands(alerts, qoe);
  for (const id of ["chart-vst", "chart-rebuffer", "chart-failures", "chart-plays"]) {
    Plotly.relayout($(id), { shapes: bands });
    $(id).dataset.alerts = String(bands.length);
  }
  const sum = (k) => s[k].reduce((a, b) => a + (b || 0), 0);
  const attempts = sum("attempts");
  $("kpi-plays").textContent = fmt(attempts);
  $("kpi-vst").textContent = fmt(last(s.vst_p95_ms)) + " ms";
  $("kpi-rebuffer").textContent = pct(last(s.rebuffer_ratio));
  const failures = s.start_failure_pct.map((p, i) => (p || 0) * (s.attempts[i] || 0) / 100).reduce((a, b) => a + b, 0);
  const ebvs = s.ebvs_pct.map((p, i) => (p || 0) * (s.attempts[i] || 0) / 100).reduce((a, b) => a + b, 0);
  $("kpi-vsf").textContent = attempts ? fmt(100 * failures / attempts, 2) + "%" : "–";
  $("kpi-ebvs").textContent = attempts ? fmt(100 * ebvs / attempts, 2) + "%" : "–";
}

function drawAlerts(alerts) {
  const open = (alerts || []).filter((a) => a.state !== "resolved").length;
  $("kpi-alerts").textContent = alerts ? String(open) : "–";
  fillTable("alerts", alerts, (a) => {
    const tr = document.createElement("tr");
    tr.className = a.state;
    tr.dataset.fingerprint = a.fingerprint;
    tr.append(text(a.state), text(a.severity), text(a.rule), text(a.slice), text(time(a.started_at)),
              text(time(a.fired_at)), text(time(a.ended_at)), num(fmt(a.observed, 3)), num(fmt(a.baseline, 3)),
              num(fmt(a.threshold, 3)), text(a.message + (a.affected ? ` (also: ${a.affected})` : "")));
    return tr;
  }, 11);
}

function drawExperiments(experiments) {
  $("readout-date").textContent = experiments && experiments.run_date ? `run ${experiments.run_date}` : "";
  fillTable("readouts", experiments && experiments.rows, (r) => {
    const tr = document.createElement("tr");
    if (r.is_control) tr.className = "control";
    else if ((r.p_value_adjusted ?? r.p_value) !== null && (r.p_value_adjusted ?? r.p_value) < 0.05) tr.className = "significant";
    const ci = r.ci_low_rel === null ? "" : `[${pct(r.ci_low_rel, 1)}, ${pct(r.ci_high_rel, 1)}]`;
    const delta = num(r.delta_rel === null ? "" : pct(r.delta_rel, 1)); delta.classList.add("delta");
    tr.append(text(r.test_id), text(r.metric + (r.is_guardrail ? " (guardrail)" : "")), text(r.cell), num(fmt(r.n)),
              num(fmt(r.mean, 3)), delta, text(ci),
              num(r.p_value === null ? "" : `${fmt(r.p_value, 4)} (${fmt(r.p_value_adjusted, 4)})`), text(r.method),
              num(r.cuped_delta_rel === null ? "" : pct(r.cuped_delta_rel, 1)), num(fmt(r.srm_p_value, 3)),
              text((r.srm_flag ? "SRM! " : "") + (r.notes || "")));
    return tr;
  }, 12);
}

function drawForecast(forecast, fill, engagement) {
  $("forecast-date").textContent = forecast && forecast.run_date ? `run ${forecast.run_date}` : "";
  if (forecast) {
    const t = forecast.total;
    chart("chart-forecast", [
      line(t.target_date, t.upper_hours, "upper", { line: { width: 0 }, showlegend: false }),
      line(t.target_date, t.lower_hours, "80% interval", { line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(99,110,250,0.25)" }),
      line(t.target_date, t.forecast_hours, "forecast", { mode: "lines+markers" }),
    ]);
  }
  if (engagement) {
    const e = engagement.series;
    chart("chart-engagement", [{ x: e.date, y: e.dau, name: "DAU", type: "bar", opacity: 0.7 },
                               line(e.date, e.watch_hours, "watch hours", { yaxis: "y2", mode: "lines+markers" })],
          {}, { type: "date", tickformat: "%b %d", dtick: 86400000 });
    Plotly.relayout($("chart-engagement"), { yaxis2: { overlaying: "y", side: "right", rangemode: "tozero", showgrid: false } });
  }
  fillTable("fill", fill && fill.rows, (r) => {
    const tr = document.createElement("tr");
    tr.append(text(r.oca_id), text(r.region), num(r.holds), num(r.fills), num(r.evicts), num(r.defers),
              num(fmt(r.fill_bytes / 1e9, 1)), num(fmt(r.evict_bytes / 1e9, 1)), num(pct(r.offload_ratio, 1)));
    return tr;
  }, 9);
}

function fillOptions(options) {
  if (!options) return;
  for (const [id, values] of [["region", options.region], ["device_type", options.device_type]]) {
    const select = $(id);
    const known = new Set([...select.options].map((o) => o.value));
    for (const value of values) {
      if (!known.has(value)) select.append(new Option(value, value));
    }
  }
}

async function refresh() {
  const params = new URLSearchParams({ region: $("region").value, device_type: $("device_type").value });
  const status = $("status");
  try {
    const response = await fetch(`/api/dashboard?${params}`, { cache: "no-store" });
    const body = await response.json();
    refreshMs = 1000 * (body.refresh_s || 5);
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    fillOptions(body.options);
    drawQoe(body.qoe, body.alerts);
    drawAlerts(body.alerts);
    drawExperiments(body.experiments);
    drawForecast(body.forecast, body.fill, body.engagement);
    const failed = Object.entries(body.errors || {});
    status.className = failed.length ? "error" : "";
    status.textContent = failed.length
      ? `panels failed: ${failed.map(([panel, why]) => `${panel} (${why})`).join("; ")}`
      : body.message || `${body.backend} · updated ${time(body.generated_at)} UTC · every ${refreshMs / 1000} s`;
    document.body.dataset.updated = body.generated_at;
  } catch (error) {
    status.className = "error";
    status.textContent = `refresh failed (${error.message}); showing the last data`;
  } finally {
    clearTimeout(timer);
    timer = setTimeout(refresh, refreshMs);
  }
}

for (const id of ["region", "device_type"]) $(id).addEventListener("change", refresh);
refresh();
