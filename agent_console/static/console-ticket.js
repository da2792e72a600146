// The ticket beside the call (status, notes, required documents, SLA countdown, the customer's past)
// and "my tickets". Every change goes through the tickets API, so it lands in the ticket's history.
import {
  $, api, clearError, config, el, fail, formatClock, formatDateTime, formatSpan, say, serverNow,
  serviceName, syncClock, t,
} from "./console-common.js";

export const ticket = { reference: null, data: null };

export async function loadTicket(reference) {
  ticket.reference = reference;
  try {
    const data = await api(`/api/console/tickets/${encodeURIComponent(reference)}`);
    if (ticket.reference !== reference) return; // a newer ticket was asked for meanwhile
    syncClock(data.server_now);
    ticket.data = data;
    renderTicket();
  } catch (error) { fail(error.message); }
}

export function hideTicket() {
  ticket.reference = ticket.data = null;
  $("ticket").hidden = true;
}

function documentName(doc) { return config.lang === "ar" ? doc.name_ar : doc.name_en; }

function renderTicket() {
  const { ticket: current, history, required_documents: documents, attachments } = ticket.data;
  $("ticket").hidden = false;
  $("ticket-reference").textContent = current.reference;
  $("ticket-category").textContent = config.lang === "ar" ? current.category_name_ar : current.category_name_en;
  $("ticket-status").textContent = t(`console.status.${current.status}`);
  $("ticket-due").textContent = formatDateTime(current.resolution_due_at);
  const select = $("status-select");
  select.replaceChildren(...(config.transitions[current.status] ?? []).map(
    (status) => el("option", { value: status }, t(`console.status.${status}`))));
  $("status-submit").disabled = select.options.length === 0;

  // A required document is ticked once some file of this ticket was marked as being it.
  const marked = new Set(attachments.map((a) => a.document_code).filter(Boolean));
  $("documents").replaceChildren(...documents.map((doc) => {
    const done = marked.has(doc.code);
    return el("li", { class: done ? "done" : "missing", "data-document": doc.code },
      el("span", { "aria-hidden": "true" }, done ? "✔ " : "○ "),
      `${documentName(doc)} — ${t(done ? "console.document_received" : "console.document_missing")}`);
  }));
  markers();

  $("ticket-history").replaceChildren(...history.map((event) => el("li", {},
    el("time", { datetime: event.created_at }, formatDateTime(event.created_at)), " ",
    describeEvent(event))));
  $("earlier-tickets").replaceChildren(...(ticket.data.earlier_tickets.length
    ? ticket.data.earlier_tickets.map((other) => el("li", {},
      el("span", { dir: "ltr" }, other.reference), ` · ${serviceName(other.category)} · ${t(`console.status.${other.status}`)} · ${formatDateTime(other.created_at)}`))
    : [el("li", {}, t("console.none"))]));
  $("past-calls").replaceChildren(...(ticket.data.calls.length
    ? ticket.data.calls.map((past) => el("li", {},
      `${formatDateTime(past.accepted_at)} · ${past.agent_name} · `,
      past.talk_seconds == null ? t("console.call_running") : formatClock(past.talk_seconds),
      past.outcome ? ` · ${t(`console.outcome.${past.outcome}`)}` : ""))
    : [el("li", {}, t("console.none"))]));
  tickSla();
}

/** A file's history line: received, or marked as (or no longer) one of the required documents.
 * The server writes a mark as "<file name> = <document code>" ("-" when the mark is taken off). */
function describeFile(who, body) {
  const mark = /^(.*) = ([a-z0-9_]+|-)$/.exec(body);
  if (!mark) return t("console.event.attachment", { who, name: body });
  const [, name, code] = mark;
  if (code === "-") return t("console.event.document_unmarked", { who, name });
  const doc = ticket.data?.required_documents.find((d) => d.code === code);
  return t("console.event.document_marked", { who, name, document: doc ? documentName(doc) : code });
}

function describeEvent(event) {
  const who = event.actor ?? t("console.system");
  switch (event.kind) {
    case "status_change":
      return t("console.event.status", { who, status: t(`console.status.${event.to_status}`) })
        + (event.body ? `: ${event.body}` : "");
    case "note": return t("console.event.note", { who, text: event.body ?? "" });
    case "attachment": return describeFile(who, event.body ?? "");
    case "assignment": return t("console.event.assignment", { who });
    default: return t("console.event.created", { who });
  }
}

/** Each file in the call's list gets a "which document is this?" choice. */
export function markers() {
  if (!ticket.data) return;
  const documents = ticket.data.required_documents;
  for (const item of $("file-list").querySelectorAll("li[data-attachment]")) {
    const id = Number(item.dataset.attachment);
    const known = ticket.data.attachments.find((a) => a.id === id);
    let select = item.querySelector("select");
    if (!select) {
      const selectId = `document-of-${id}`;
      select = el("select", { id: selectId });
      select.append(el("option", { value: "" }, t("console.document_unmarked")),
        ...documents.map((doc) => el("option", { value: doc.code }, documentName(doc))));
      select.addEventListener("change", () => markDocument(id, select.value || null));
      item.append(" ", el("label", { for: selectId }, t("console.document_is")), " ", select);
    }
    select.value = known?.document_code ?? "";
  }
}

async function markDocument(attachmentId, code) {
  try {
    await api(`/api/console/attachments/${attachmentId}/document`, { method: "POST", body: { document_code: code } });
    await loadTicket(ticket.reference);
  } catch (error) { fail(error.message); }
}

// --- the SLA countdown: amber when at risk, red when breached -------------------------------------
function slaState(due, atRisk, now) {
  if (now > due) return "breached";
  return now >= atRisk ? "at_risk" : "on_track";
}

function tickSla() {
  if (!ticket.data) return;
  const current = ticket.data.ticket;
  const now = serverNow();
  const due = Date.parse(current.resolution_due_at);
  const finished = current.status === "resolved" || current.status === "closed";
  const span = $("ticket-sla");
  if (current.status === "pending" && current.pending_since) {
    // Waiting on the customer: the clock stopped then, so what was left then is still left.
    const stopped = Date.parse(current.pending_since);
    const key = stopped > due ? "console.sla_paused_overdue" : "console.sla_paused";
    span.className = `sla ${current.sla_state}`;
    span.textContent = `${t(key, { span: formatSpan((due - stopped) / 1000) })} (${t(`console.sla.${current.sla_state}`)})`;
    return;
  }
  const state = finished ? current.sla_state : slaState(due, Date.parse(current.resolution_at_risk_at), now);
  span.className = `sla ${state}`;
  span.textContent = finished
    ? t(`console.sla.${state}`)
    : `${t(now > due ? "console.sla_overdue" : "console.sla_remaining", { span: formatSpan((due - now) / 1000) })} (${t(`console.sla.${state}`)})`;
}
setInterval(tickSla, 1000);

$("status-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = $("status-select").value;
  if (!status || !ticket.reference) return;
  try {
    clearError();
    await api(`/api/tickets/${encodeURIComponent(ticket.reference)}/status`, { method: "POST", body: { status } });
    say(t("console.status_saved", { status: t(`console.status.${status}`) }));
    await loadTicket(ticket.reference);
    await loadMyTickets();
  } catch (error) { fail(error.message); }
});

$("note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = $("note-text").value.trim();
  if (!body || !ticket.reference) return;
  try {
    clearError();
    await api(`/api/tickets/${encodeURIComponent(ticket.reference)}/notes`, { method: "POST", body: { body } });
    $("note-text").value = "";
    say(t("console.note_saved"));
    await loadTicket(ticket.reference);
  } catch (error) { fail(error.message); }
});

// --- my tickets ---------------------------------------------------------------------------------
export async function loadMyTickets() {
  try {
    const data = await api("/api/console/my-tickets");
    syncClock(data.server_now);
    $("no-tickets").hidden = data.tickets.length > 0;
    $("my-tickets").replaceChildren(...data.tickets.map((row) => el("tr", { class: `sla-row ${row.sla_state}` },
      el("td", { dir: "ltr" }, row.reference),
      el("td", {}, config.lang === "ar" ? row.category_name_ar : row.category_name_en),
      el("td", {}, t(`console.status.${row.status}`)),
      el("td", {}, el("time", { datetime: row.resolution_due_at }, formatDateTime(row.resolution_due_at))),
      el("td", {}, el("span", { class: `sla ${row.sla_state}` }, t(`console.sla.${row.sla_state}`))))));
  } catch (error) { fail(error.message); }
}
