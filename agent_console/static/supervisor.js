// The supervisor dashboard: live queues, agents, calls and waiting customers over the /supervisor
// namespace (docs/protocol.md), and the supervisor actions. Tables are redrawn only when their
// content changes; the times in them tick here, once a second, from the server's clock.
import { io } from "/static/vendor/socket.io/socket.io.esm.min.js";
import { $, cell, config, duration, errorText, fillBody, number, percent, queueLabel, queueOfBucket, t }
  from "/static/console/supervisor-common.js";
import { refreshAudit, refreshCharts, refreshSla, startPanels } from "/static/console/supervisor-panels.js";

const live = { stats: null, offset: 0 };
window.supervisor = { live, refreshAudit, refreshCharts, refreshSla };

/** The server's "now" in seconds, following its clock (which tests may set) from the last stats. */
const serverNow = () => (Date.now() + live.offset) / 1000;

function customerName(id, name) { return name || t("supervisor.anonymous", { id: id.slice(0, 6) }); }

function renderQueues(queues) {
  const rows = queues.map((q) => {
    const below = q.service_level !== null && q.service_level < q.service_level_target;
    return {
      id: q.queue,
      key: [q.queue, q.waiting, q.answered, q.answered_in_time, q.abandoned, q.service_level,
        q.average_speed_of_answer, q.waiting ? Math.round(live.stats.now - q.longest_wait_seconds) : null],
      cells: () => [
        cell(queueLabel(q.category, q.language, q.sign_language), { header: true }),
        cell(number(q.waiting), { className: "number waiting" }),
        q.waiting
          ? cell(duration(q.longest_wait_seconds), {
            className: "number", data: { since: live.stats.now - q.longest_wait_seconds } })
          : cell("–", { className: "number" }),
        cell(percent(q.service_level) + (below ? ` (${t("supervisor.below_target")})` : ""),
          { className: below ? "number below" : "number" }),
        cell(t("supervisor.target", { level: percent(q.service_level_target),
          seconds: q.service_level_seconds })),
        cell(duration(q.average_speed_of_answer), { className: "number" }),
        cell(percent(q.abandonment_rate), { className: "number" }),
        cell(number(q.answered), { className: "number" }),
        cell(number(q.abandoned), { className: "number" }),
      ],
    };
  });
  fillBody($("queues-body"), rows, t("supervisor.queues.none"), 9);
}

function renderAgents(agents) {
  const rows = agents.map((a) => ({
    id: a.agent_id,
    key: [a.agent_id, a.display_name, a.state, a.state_since, a.customer_id, a.customer_name, a.calls_today],
    cells: () => [
      cell(a.display_name || a.agent_id, { header: true }),
      cell(t(`supervisor.state.${a.state}`), { className: `state state-${a.state}` }),
      cell(duration(serverNow() - a.state_since), { className: "number", data: { since: a.state_since } }),
      cell(a.customer_id ? customerName(a.customer_id, a.customer_name) : "–"),
      cell(number(a.calls_today), { className: "number" }),
    ],
  }));
  fillBody($("agents-body"), rows, t("supervisor.agents.none"), 5);
}

function renderCalls(calls) {
  const rows = calls.map((c) => ({
    id: c.call_id,
    key: [c.call_id, c.state, c.since, c.agent_name, c.customer_name, c.ticket_reference],
    cells: () => [
      cell(c.agent_name || c.agent_id, { header: true }),
      cell(customerName(c.customer_id, c.customer_name)),
      cell(queueOfBucket(c.queue)),
      cell(t(`supervisor.call.${c.state}`)),
      cell(duration(serverNow() - c.since), { className: "number", data: { since: c.since } }),
      cell(c.ticket_reference || "–"),
    ],
  }));
  fillBody($("calls-body"), rows, t("supervisor.calls.none"), 6);
}

function renderWaiting(waiting) {
  const rows = waiting.map((w) => ({
    id: w.customer_id,
    key: [w.customer_id, w.display_name, w.queue, w.position, w.priority, w.enqueued_at],
    cells: () => [
      cell(customerName(w.customer_id, w.display_name), { header: true }),
      cell(queueLabel(w.category, w.language, w.sign_language)),
      cell(number(w.position), { className: "number" }),
      cell(duration(serverNow() - w.enqueued_at), { className: "number", data: { since: w.enqueued_at } }),
      cell(number(w.priority), { className: "number" }),
    ],
  }));
  fillBody($("waiting-body"), rows, t("supervisor.waiting.none"), 5);
}

/** Keep each select's options in step with who is there, keeping the choice made. */
function syncOptions(select, options) {
  const signature = JSON.stringify(options);
  if (select.dataset.signature === signature) return;
  select.dataset.signature = signature;
  const chosen = select.value;
  const blank = new Option(t("supervisor.actions.choose"), "");
  select.replaceChildren(blank, ...options.map(([value, label]) => new Option(label, value)));
  select.value = options.some(([value]) => value === chosen) ? chosen : "";
}

function render(stats) {
  live.stats = stats;
  live.offset = stats.now * 1000 - Date.now();
  renderQueues(stats.queues);
  renderAgents(stats.agents);
  renderCalls(stats.calls);
  renderWaiting(stats.waiting);
  const customers = stats.waiting.map((w) => [w.customer_id,
    `${customerName(w.customer_id, w.display_name)} · ${queueLabel(w.category, w.language, w.sign_language)}`]);
  for (const select of document.querySelectorAll(".customer-select")) syncOptions(select, customers);
  const agents = stats.agents.map((a) => [a.agent_id, `${a.display_name || a.agent_id} · ${t(`supervisor.state.${a.state}`)}`]);
  for (const select of document.querySelectorAll(".agent-select")) syncOptions(select, agents);
}

function tick() {
  const now = serverNow();
  for (const element of document.querySelectorAll("[data-since]")) {
    element.textContent = duration(now - Number(element.dataset.since));
  }
}

const socket = io("/supervisor", { transports: ["websocket"] });
window.supervisor.socket = socket;
socket.on("connect", () => { $("connection").textContent = t("supervisor.connection.live"); });
socket.on("disconnect", (reason) => {
  // The server closes a staff socket only when its login session ended (a logout, or it ran out).
  if (reason === "io server disconnect") { location.assign("/login?next=/supervisor"); return; }
  $("connection").textContent = t("supervisor.connection.lost");
});
socket.on("connect_error", (error) => {
  $("connection").textContent = `${t("supervisor.connection.lost")} ${error.message}`;
});
socket.on("stats", render);
setInterval(tick, 1000);

// --- actions: each is a protocol event; the answer is said once, in the status line ---------
async function act(event, payload, title) {
  const result = $("action-result");
  if (Object.values(payload).some((v) => v === "")) { result.textContent = t("supervisor.action.pick"); return; }
  let ack;
  try {
    ack = await socket.timeout(10000).emitWithAck(event, payload);
  } catch (error) {
    ack = { ok: false, error: { message: t("supervisor.connection.lost") } };
  }
  result.textContent = ack.ok ? t("supervisor.action.done", { action: title })
    : t("supervisor.action.failed", { reason: errorText(ack.error) });
  if (ack.ok) refreshAudit();
}

const titleOf = (form) => form.querySelector("h3").textContent;
const forms = {
  "priority-form": () => ["set_priority",
    { customer_id: $("priority-customer").value, priority: Number($("priority-value").value) }],
  "move-form": () => ["move", { customer_id: $("move-customer").value, category: $("move-category").value,
    language: $("move-language").value, sign_language: $("move-sign-language").checked }],
  "offer-form": () => ["offer_to", { customer_id: $("offer-customer").value, agent_id: $("offer-agent").value }],
  "state-form": () => ["set_agent_state", { agent_id: $("state-agent").value, state: $("state-value").value }],
};
// Taking someone out of the line cannot be undone: the supervisor confirms it, by name, first.
$("remove-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const select = $("remove-customer");
  if (!select.value) { $("action-result").textContent = t("supervisor.action.pick"); return; }
  const dialog = $("remove-confirm");
  // The one named in the question is the one removed, whatever the live list does meanwhile.
  const customerId = select.value;
  const chosen = select.selectedOptions[0].textContent;
  $("remove-question").textContent = t("supervisor.action.remove_confirm", { name: chosen });
  dialog.returnValue = "";
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "remove") {
      act("remove_from_line", { customer_id: customerId }, titleOf(event.target));
    }
  }, { once: true });
  dialog.showModal();
});

for (const [id, build] of Object.entries(forms)) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    const [name, payload] = build();
    act(name, payload, titleOf(event.target));
  });
}

startPanels();
