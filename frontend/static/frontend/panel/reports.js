// Reports page (docs/reports.md): summary cards, three time series drawn with uPlot (vendored,
// loaded as a classic script before this module: globalThis.uPlot), the per-agent table and
// CSV links, for a period (7 / 30 days or custom dates) and an inbox. Every figure comes from
// /api/v1/reports/*, which scopes it to the operator's inboxes; dates are the browser's calendar
// days, sent with its time zone (tz=).
import { $, clear, h } from "../shared/dom.js";
import { formatNumber, formatShortDate, formatTime, t } from "../shared/i18n.js";
import { ApiError } from "./api.js";
import { initLanguage } from "./language.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
// The profile's language; the figures are drawn once per load, so a change re-draws them.
initLanguage({ locale: boot.user.locale, titleKey: "panel.reports.page_title", onChange: () => { init.done && load(); } });
const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const METRICS = ["conversations_opened", "messages_incoming", "first_response_seconds"];
const DAY_MS = 86_400_000;

const controls = {
  preset: $("#range-preset"), custom: $("#custom-range"), from: $("#range-from"), to: $("#range-to"),
  inbox: $("#report-inbox"), bucket: $("#report-bucket"),
};

// --- formatting --------------------------------------------------------------------------------

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  const unit = (key, count) => (count ? t(key, { count }) : "");
  const two = (first, second) => [first, second].filter(Boolean).join(" ");
  if (s < 60) return t("time.unit.seconds", { count: s });
  if (s < 3600) return two(unit("time.unit.minutes", Math.floor(s / 60)), unit("time.unit.seconds", s % 60));
  if (s < 86400) return two(unit("time.unit.hours", Math.floor(s / 3600)), unit("time.unit.minutes", Math.floor((s % 3600) / 60)));
  return two(unit("time.unit.days", Math.floor(s / 86400)), unit("time.unit.hours", Math.floor((s % 86400) / 3600)));
}

const number = (value) => (value === null || value === undefined ? "–" : formatNumber(Number(value)));
const percent = (share) => (share === null || share === undefined ? "–" : formatNumber(share, { style: "percent", maximumFractionDigits: 0 }));

function isoDate(date) {  // the browser's calendar date (its zone is the tz= sent)
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

// --- parameters --------------------------------------------------------------------------------

function period() {
  if (controls.preset.value === "custom") return { since: controls.from.value, until: controls.to.value };
  const days = Number(controls.preset.value);
  const today = new Date();
  return { since: isoDate(new Date(today.getTime() - (days - 1) * DAY_MS)), until: isoDate(today) };
}

function bucketFor({ since, until }) {
  if (controls.bucket.value !== "auto") return controls.bucket.value;
  const days = (Date.parse(until) - Date.parse(since)) / DAY_MS + 1;
  return days <= 2 ? "hour" : "day";
}

function query(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  return p.toString();
}

async function getJSON(url) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  } catch (_) {
    throw new ApiError(0, null);
  }
  if (response.status === 401) location.assign(`/login/?next=${encodeURIComponent(location.pathname)}`);
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// --- rendering ---------------------------------------------------------------------------------

function card(label, value, detail, testid) {
  return h("div", { class: "report-card", dataset: { testid } },
    h("div", { class: "card-label" }, label),
    h("div", { class: "card-value" }, value),
    detail ? h("div", { class: "card-detail muted small" }, detail) : null);
}

function renderCards(summary) {
  const fr = summary.first_response_seconds;
  const res = summary.resolution_seconds;
  const csat = summary.csat;
  const el = $("#report-cards");
  clear(el).append(
    card(t("panel.reports.opened"), number(summary.conversations_opened), null, "conversations_opened"),
    card(t("panel.reports.resolved"), number(summary.conversations_resolved), null, "conversations_resolved"),
    card(t("panel.reports.incoming"), number(summary.messages_incoming), null, "messages_incoming"),
    card(t("panel.reports.replies"), number(summary.messages_outgoing), null, "messages_outgoing"),
    card(t("panel.reports.first_response"), formatDuration(fr.median), t("panel.reports.p90", { time: formatDuration(fr.p90) }),
      "first_response"),
    card(t("panel.reports.resolution"), formatDuration(res.median), t("panel.reports.p90", { time: formatDuration(res.p90) }), "resolution"),
    card(t("panel.reports.csat"), csat.average === null ? "–" : `${formatNumber(csat.average, { minimumFractionDigits: 2, maximumFractionDigits: 2 })} / 5`,
      `${t("panel.reports.csat_answers", { count: csat.responses ?? 0, number: number(csat.responses) })} · ${t("panel.reports.csat_satisfied", { percent: percent(csat.satisfied_share) })}`, "csat"),
  );
  el.setAttribute("aria-busy", "false");
}

const charts = new Map();  // metric -> uPlot instance

function chartOptions(metric, width, bucket) {
  const duration = metric === "first_response_seconds";
  const step = bucket === "hour" ? 3600 : 86400;
  const { uPlot } = globalThis;
  return {
    width, height: 200,
    legend: { show: false },
    cursor: { points: { size: 6 } },
    // A bucket's bar spans [t, t + step): the x range ends one step after the last start.
    scales: { x: { time: true, range: (_u, min, max) => [min, max + step] },
              y: { range: (_u, _min, max) => [0, Math.max(duration ? 60 : 1, max * 1.1)] } },
    axes: [
      { stroke: "#6b7588", grid: { stroke: "#e3e7ee" }, space: bucket === "hour" ? 60 : 50,
        // Dates in the reader's language and zone (uPlot's own names are English).
        values: (_u, ticks) => ticks.map((v) => (bucket === "hour" ? formatTime(v * 1000) : formatShortDate(v * 1000))) },
      { stroke: "#6b7588", grid: { stroke: "#e3e7ee" }, size: duration ? 70 : 50,
        values: (_u, ticks) => ticks.map((v) => (duration ? formatDuration(v) : Number.isInteger(v) ? v : "")) },
    ],
    series: [
      {},
      duration
        ? { label: t("panel.reports.series.median"), stroke: "#b26a00", width: 2, spanGaps: false, points: { show: true, size: 5 },
            value: (_u, v) => formatDuration(v) }
        : { label: t("panel.reports.series.count"), stroke: "#1f6feb", fill: "#1f6feb55",
            paths: uPlot.paths.bars({ size: [0.7, 40], align: 1 }), points: { show: false } },
    ],
  };
}

function renderChart(figure, series, bucket) {
  const metric = figure.dataset.metric;
  const box = figure.querySelector(".chart");
  const xs = series.points.map((p) => Date.parse(p.t) / 1000);
  const ys = series.points.map((p) => p.value);
  charts.get(metric)?.destroy();
  clear(box);
  const chart = new globalThis.uPlot(chartOptions(metric, Math.max(240, box.clientWidth), bucket), [xs, ys], box);
  charts.set(metric, chart);
  figure.dataset.points = String(series.points.length);
}

function renderAgents(agents) {
  const body = $("#agents-table tbody");
  clear(body);
  if (!agents.results.length) {
    body.append(h("tr", {}, h("td", { colSpan: 8, class: "muted" }, t("panel.reports.no_agents"))));
  }
  for (const row of agents.results) {
    body.append(h("tr", { dataset: { agentId: row.id } },
      h("th", { scope: "row" }, row.name),
      h("td", {}, number(row.conversations_assigned)),
      h("td", {}, number(row.conversations_resolved)),
      h("td", {}, number(row.messages_sent)),
      h("td", {}, formatDuration(row.first_response_seconds_median)),
      h("td", {}, formatDuration(row.resolution_seconds_median)),
      h("td", {}, row.csat_average === null ? "–" : formatNumber(row.csat_average, { minimumFractionDigits: 2, maximumFractionDigits: 2 })),
      h("td", {}, number(row.csat_responses))));
  }
}

function showError(err) {
  const el = $("#report-error");
  el.hidden = !err;
  el.textContent = err ? (err.message || t("panel.reports.failed")) : "";
}

// --- loading -----------------------------------------------------------------------------------

let generation = 0;

async function load() {
  const range = period();
  if (!range.since || !range.until) return;  // a custom range being typed
  const mine = ++generation;
  const bucket = bucketFor(range);
  const common = { ...range, tz: TZ, inbox: controls.inbox.value };
  const summaryUrl = `/api/v1/reports/summary?${query(common)}`;
  const agentsUrl = `/api/v1/reports/agents?${query(common)}`;
  const seriesUrl = (metric) => `/api/v1/reports/timeseries?${query({ ...common, metric, bucket })}`;
  $("#csv-summary").href = `${summaryUrl}&format=csv`;
  $("#csv-agents").href = `${agentsUrl}&format=csv`;
  for (const figure of document.querySelectorAll(".report-chart")) {
    figure.querySelector("[data-csv]").href = `${seriesUrl(figure.dataset.metric)}&format=csv`;
  }
  $("#report-cards").setAttribute("aria-busy", "true");
  try {
    const [summary, agents, ...series] = await Promise.all([
      getJSON(summaryUrl), getJSON(agentsUrl), ...METRICS.map((metric) => getJSON(seriesUrl(metric))),
    ]);
    if (mine !== generation) return;  // a newer choice is loading
    showError(null);
    renderCards(summary);
    METRICS.forEach((metric, index) => renderChart(document.querySelector(`.report-chart[data-metric="${metric}"]`),
      series[index], bucket));
    renderAgents(agents);
    document.body.dataset.reportReady = String(mine);
  } catch (err) {
    if (mine === generation) showError(err);
  }
}

function init() {
  $("#me-name").textContent = boot.user.name || "";
  $("#report-tz").textContent = t("panel.reports.time_zone", { zone: TZ });
  for (const inbox of boot.inboxes) controls.inbox.append(h("option", { value: inbox.id }, inbox.name));
  const today = isoDate(new Date());
  controls.to.value = today;
  controls.from.value = isoDate(new Date(Date.now() - 6 * DAY_MS));
  controls.to.max = today;
  controls.preset.addEventListener("change", () => {
    controls.custom.hidden = controls.preset.value !== "custom";
    load();
  });
  for (const input of [controls.from, controls.to, controls.inbox, controls.bucket]) input.addEventListener("change", load);
  $("#report-controls").addEventListener("submit", (event) => event.preventDefault());
  // Charts follow the page's width (phone rotation, window resize).
  const resize = new ResizeObserver(() => {
    for (const [metric, chart] of charts) {
      const box = document.querySelector(`.report-chart[data-metric="${metric}"] .chart`);
      if (box && Math.abs(box.clientWidth - chart.width) > 4) chart.setSize({ width: Math.max(240, box.clientWidth), height: 200 });
    }
  });
  for (const box of document.querySelectorAll(".report-chart .chart")) resize.observe(box);
  load();
  init.done = true;
}

init();
