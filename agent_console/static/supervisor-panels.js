// The dashboard's parts read over HTTP: the SLA board (with an alert on each new breach), the
// audit log, and the charts (Chart.js, each with its figures as a table beside it).
import { $, cell, config, dateTime, fillBody, number, percent, queueOfBucket, t }
  from "/static/console/supervisor-common.js";

// How often each part reloads comes with the page (30 s, 30 s and 60 s unless the server says otherwise).
const REFRESH = { sla: 30, audit: 30, charts: 60, ...config.refresh_seconds };
const rtl = document.documentElement.dir === "rtl";

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// --- SLA board ---------------------------------------------------------------------------------
let knownBreaches = null; // null until the first load: breaches already there are not "new"

export async function refreshSla() {
  const { tickets } = await getJson("/api/supervisor/sla-board");
  const rows = tickets.map((ticket) => ({
    id: ticket.reference,
    key: ticket,
    cells: () => [
      cell(ticket.reference, { header: true }),
      cell(ticket.subject),
      cell(ticket.category.name[config.lang] ?? ticket.category.code),
      cell(ticket.agent ?? t("supervisor.unassigned")),
      cell(dateTime(ticket.due_at)),
      cell(t(`supervisor.sla.${ticket.sla_state}`), { className: `sla-${ticket.sla_state}` }),
    ],
  }));
  fillBody($("sla-body"), rows, t("supervisor.sla.none"), 6);
  const breached = new Set(tickets.filter((x) => x.sla_state === "breached").map((x) => x.reference));
  if (knownBreaches !== null) {
    const fresh = [...breached].filter((reference) => !knownBreaches.has(reference));
    if (fresh.length) {
      const alert = $("breach-alert");
      alert.textContent = t("supervisor.sla.new_breach", { references: fresh.join(", ") });
      alert.hidden = false;
    }
  }
  knownBreaches = breached;
}

// --- audit log ---------------------------------------------------------------------------------
function describe(action) {
  const d = action.details;
  switch (action.action) {
    case "set_priority": return `${t("supervisor.col.priority")}: ${number(d.priority)}`;
    case "move": return queueOfBucket(`${d.category}|${d.language}|${d.sign_language ? "sl" : "-"}`);
    case "offer_to": return `${t("supervisor.actions.agent")}: ${d.agent_id}`;
    case "set_agent_state": return t(`supervisor.state.${d.state}`);
    case "remove_from_line": return d.queue ? queueOfBucket(d.queue) : "–";
    default: return JSON.stringify(d);
  }
}

export async function refreshAudit() {
  const { actions } = await getJson("/api/supervisor/audit?limit=50");
  const rows = actions.map((a) => ({
    key: a,
    cells: () => [
      cell(dateTime(a.at), { header: true }),
      cell(a.staff_name),
      cell(t(`supervisor.action.${a.action}`)),
      cell(a.target),
      cell(describe(a)),
    ],
  }));
  fillBody($("audit-body"), rows, t("supervisor.audit.none"), 5);
}

// --- charts --------------------------------------------------------------------------------------
const PALETTE = ["#0b5cad", "#a40000", "#0a6b2d", "#8a4b00", "#5b2a86", "#00667a", "#444444"];
// The chart's hours are the contact center's (VBRANCH_TIMEZONE), whatever the browser's zone.
const minutes = new Intl.DateTimeFormat(config.lang, { hour: "numeric", minute: "2-digit", timeZone: config.timezone });
const hours = new Intl.DateTimeFormat(config.lang, { hour: "numeric", timeZone: config.timezone });
const charts = {};

function draw(id, type, labels, datasets, options = {}) {
  if (!window.Chart) return; // the library is missing (npm ci not run): the tables still show
  if (charts[id]) {
    charts[id].data.labels = labels;
    charts[id].data.datasets = datasets;
    charts[id].update("none");
    return;
  }
  charts[id] = new window.Chart($(id), {
    type,
    data: { labels, datasets },
    options: {
      animation: false, maintainAspectRatio: false, locale: config.lang,
      plugins: { legend: { rtl, position: "bottom" }, tooltip: { rtl } },
      scales: { x: { reverse: rtl }, y: { beginAtZero: true, ...options.y } },
    },
  });
}

function table(id, headings, rows) {
  const head = document.createElement("tr");
  head.append(...headings.map((h) => { const th = document.createElement("th"); th.scope = "col"; th.textContent = h; return th; }));
  $(`${id}-table`).tHead.replaceChildren(head);
  fillBody($(`${id}-table`).tBodies[0], rows.map((r) => ({
    key: r, cells: () => r.map((text, i) => cell(text, { header: i === 0 })),
  })), t("supervisor.charts.empty"), headings.length);
}

export async function refreshCharts() {
  const data = await getJson("/api/supervisor/charts");
  const labels = data.waiting.minutes.map((m) => minutes.format(new Date(m)));
  $("charts-empty").hidden = labels.length > 0;
  draw("chart-waiting", "line", labels, data.waiting.series.map((s, i) => ({
    label: queueOfBucket(s.queue), data: s.waiting, borderColor: PALETTE[i % PALETTE.length],
    backgroundColor: PALETTE[i % PALETTE.length], spanGaps: true, stepped: true,
  })), { y: { ticks: { precision: 0 } } });
  table("chart-waiting", [t("supervisor.charts.time"), ...data.waiting.series.map((s) => queueOfBucket(s.queue))],
    labels.map((label, i) => [label, ...data.waiting.series.map((s) => number(s.waiting[i]))]));

  const hourLabels = data.hours.map((h) => hours.format(new Date(h.hour)));
  draw("chart-calls", "bar", hourLabels, [
    { label: t("supervisor.col.answered"), data: data.hours.map((h) => h.answered), backgroundColor: PALETTE[0] },
    { label: t("supervisor.col.abandoned"), data: data.hours.map((h) => h.abandoned), backgroundColor: PALETTE[1] },
  ], { y: { ticks: { precision: 0 } } });
  table("chart-calls", [t("supervisor.charts.hour"), t("supervisor.col.answered"), t("supervisor.col.abandoned")],
    data.hours.map((h, i) => [hourLabels[i], number(h.answered), number(h.abandoned)]));

  draw("chart-service_level", "line", hourLabels, [
    { label: t("supervisor.col.service_level"), data: data.hours.map((h) => h.service_level === null ? null : h.service_level * 100),
      borderColor: PALETTE[0], backgroundColor: PALETTE[0], spanGaps: false },
    { label: t("supervisor.charts.target"), data: data.hours.map(() => 80), borderColor: PALETTE[3],
      backgroundColor: PALETTE[3], borderDash: [6, 4], pointRadius: 0 },
  ], { y: { max: 100 } });
  table("chart-service_level", [t("supervisor.charts.hour"), t("supervisor.col.service_level")],
    data.hours.map((h, i) => [hourLabels[i], percent(h.service_level)]));
}

function every(ms, work) {
  const run = () => work().catch((error) => console.warn(error));
  run();
  setInterval(run, ms);
}

export function startPanels() {
  every(REFRESH.sla * 1000, refreshSla);
  every(REFRESH.audit * 1000, refreshAudit);
  every(REFRESH.charts * 1000, refreshCharts);
}
