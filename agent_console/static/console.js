// The agent console: availability, incoming offers, the call, transfer and wrap-up over the /agent
// namespace of docs/protocol.md; the ticket and the day's figures over the JSON API.
import { io } from "/static/vendor/socket.io/socket.io.esm.min.js";
import { addChat, addFile, call, endCall, onSignal, resumeCall, startCall, watchFiles } from "./console-call.js";
import {
  $, api, clearError, config, errorText, fail, formatClock, formatNumber, say, serviceName, t,
} from "./console-common.js";
import { hideTicket, loadMyTickets, loadTicket, markers, ticket } from "./console-ticket.js";

const agent = { state: "offline", offer: null, offerTimer: null, wrapUpTimer: null, wrapUpCallId: null, audio: null };
window.agentConsole = agent; // tests read the state from here

const socket = io("/agent", { transports: ["websocket"] });

// --- availability and the day's figures ----------------------------------------------------------
function showState(state) {
  agent.state = state;
  $("agent-state").textContent = t(`console.state.${state}`);
  $("agent-state").className = `state-${state}`;
  const radio = document.querySelector(`input[name="state"][value="${state}"]`);
  if (radio) radio.checked = true;
}

function syncReasonField() {
  const away = $("avail-away").checked;
  $("away-reason").disabled = !away;
}
for (const radio of document.querySelectorAll('input[name="state"]')) radio.addEventListener("change", syncReasonField);
syncReasonField();

$("availability-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  prepareAlerts(); // a click: the moment a browser lets a page make sound and ask for notifications
  const state = new FormData(event.target).get("state");
  const payload = { state };
  if (state === "away") payload.reason = $("away-reason").value;
  const ack = await socket.emitWithAck("set_availability", payload);
  if (!ack.ok) { fail(errorText(ack.error)); return; }
  clearError();
  showState(ack.state);
  say(state === "away" ? t("console.now_away", { reason: t(`console.reason.${payload.reason}`) }) : t("console.now_available"));
});

async function loadToday() {
  try {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const me = await api(`/api/console/me?tz=${encodeURIComponent(tz)}`);
    $("today-calls").textContent = formatNumber(me.today.calls);
    $("today-talk").textContent = me.today.average_talk_seconds == null
      ? t("console.none") : formatClock(me.today.average_talk_seconds);
  } catch (error) { fail(error.message); }
}

// --- the offer: seen, heard, and a notification when the tab is in the background ----------------
function prepareAlerts() {
  if (!agent.audio) agent.audio = new AudioContext();
  agent.audio.resume().catch(() => {});
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
}

function beep() {
  const context = agent.audio;
  if (!context || context.state !== "running") return;
  for (const [start, frequency] of [[0, 880], [0.3, 660]]) {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.2, context.currentTime + start);
    gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + start + 0.25);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(context.currentTime + start);
    oscillator.stop(context.currentTime + start + 0.25);
  }
}

function onOffer(offer) {
  const customer = offer.customer;
  // Counted from our own clock: the server's may differ, the number of seconds left does not.
  agent.offer = { ...offer, deadline: performance.now() + offer.timeout_seconds * 1000 };
  $("offer-name").textContent = customer.display_name || t("console.anonymous");
  $("offer-service").textContent = serviceName(customer.category);
  $("offer-language").textContent = t(`language.${customer.language}`);
  $("offer-sign").textContent = t(customer.sign_language ? "console.sign_needed" : "console.sign_not_needed");
  $("offer-waited").textContent = formatClock(offer.waited_seconds);
  $("offer-note-row").hidden = !customer.handoff_note;
  $("offer-note").textContent = customer.handoff_note ?? "";
  $("offer").hidden = false;
  $("accept").disabled = $("reject").disabled = false;
  $("accept").focus();
  tickOffer();
  clearInterval(agent.offerTimer);
  agent.offerTimer = setInterval(tickOffer, 250);
  beep();
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    const note = new Notification(t("console.offer_title"), {
      body: `${serviceName(customer.category)} · ${t(`language.${customer.language}`)}`, tag: offer.offer_id, lang: config.lang,
    });
    note.onclick = () => { window.focus(); note.close(); };
  }
}

function tickOffer() {
  if (!agent.offer) return;
  const left = Math.max(0, (agent.offer.deadline - performance.now()) / 1000);
  $("offer-countdown").textContent = formatClock(Math.ceil(left));
  $("offer-progress").value = (100 * left) / Math.max(1, agent.offer.timeout_seconds);
}

function closeOffer(message) {
  clearInterval(agent.offerTimer);
  agent.offer = null;
  $("offer").hidden = true;
  if (message) say(message);
}

$("accept").addEventListener("click", async () => {
  const offer = agent.offer;
  if (!offer) return;
  $("accept").disabled = $("reject").disabled = true;
  const ack = await socket.emitWithAck("accept", { offer_id: offer.offer_id });
  if (agent.offer === offer) closeOffer();
  if (!ack.ok) { fail(errorText(ack.error)); return; }
  clearError();
  showState("on_call");
  $("call-customer").textContent = offer.customer.display_name ? `· ${offer.customer.display_name}` : "";
  $("transfer-category").value = offer.customer.category;
  $("transfer-language").value = offer.customer.language;
  $("transfer-sign").checked = offer.customer.sign_language;
  $("transfer-note").value = "";
  $("wrap-up").hidden = true;
  $("call").hidden = false;
  $("call-heading").tabIndex = -1;
  $("call-heading").focus();
  say(t("console.call_started"));
  try { await startCall(socket, ack); } catch (error) { fail(error.message); }
  await loadTicket(ack.ticket_reference);
});

$("reject").addEventListener("click", async () => {
  const offer = agent.offer;
  if (!offer) return;
  const ack = await socket.emitWithAck("reject", { offer_id: offer.offer_id });
  // The next offer (maybe the same customer again) can arrive before this answer: leave it shown.
  if (agent.offer === offer) closeOffer(ack.ok ? t("console.rejected") : "");
  else if (ack.ok) say(t("console.rejected"));
  if (!ack.ok) fail(errorText(ack.error));
});

// --- transfer -----------------------------------------------------------------------------------
$("transfer-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!call.id) return;
  const note = $("transfer-note").value.trim();
  const ack = await socket.emitWithAck("transfer", {
    call_id: call.id, category: $("transfer-category").value, language: $("transfer-language").value,
    sign_language: $("transfer-sign").checked, ...(note ? { note } : {}),
  });
  if (!ack.ok) { fail(errorText(ack.error)); return; }
  say(t("console.transferred"));
});

// --- wrap-up --------------------------------------------------------------------------------------
/** The wrap-up form goes away: a focus inside it would be lost to the page, so it moves to the
 * availability choice, the next thing an agent does (keyboard and screen-reader users included). */
function closeWrapUp() {
  const hadFocus = $("wrap-up").contains(document.activeElement);
  $("wrap-up").hidden = true;
  if (hadFocus) document.querySelector('input[name="state"]:checked')?.focus();
}

function onCallEnded(data) {
  if (data.call_id !== call.id) return;
  endCall();
  $("call").hidden = true;
  agent.wrapUpCallId = data.call_id;
  call.id = null;
  showState("wrap_up");
  say(t(`console.ended.${data.reason}`) === `console.ended.${data.reason}` ? t("console.call_ended") : t(`console.ended.${data.reason}`));
  $("wrap-up-notes").value = "";
  $("wrap-up").hidden = false;
  const deadline = performance.now() + config.wrap_up_seconds * 1000;
  const tick = () => {
    const left = Math.max(0, (deadline - performance.now()) / 1000);
    $("wrap-up-countdown").textContent = formatClock(Math.ceil(left));
    $("wrap-up-countdown").classList.toggle("urgent", left <= 10);
  };
  tick();
  clearInterval(agent.wrapUpTimer);
  agent.wrapUpTimer = setInterval(tick, 250);
  $("wrap-up-heading").tabIndex = -1;
  $("wrap-up-heading").focus();
}

$("wrap-up-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!agent.wrapUpCallId) return;
  const notes = $("wrap-up-notes").value.trim();
  const ack = await socket.emitWithAck("finish_wrap_up", {
    call_id: agent.wrapUpCallId, outcome: $("outcome").value, next_state: new FormData(event.target).get("next_state"),
    ...(notes ? { notes } : {}),
  });
  if (!ack.ok) { fail(errorText(ack.error)); return; }
  clearError();
  clearInterval(agent.wrapUpTimer);
  agent.wrapUpCallId = null;
  showState(ack.state);
  closeWrapUp();
  hideTicket();
  say(t("console.wrap_up_done", { state: t(`console.state.${ack.state}`) }));
  await Promise.all([loadToday(), loadMyTickets()]);
});

// --- the socket -----------------------------------------------------------------------------------
socket.on("connect", () => { say(""); clearError(); });
socket.on("connect_error", (error) => fail(error.message));
socket.on("disconnect", (reason) => {
  // The server closes a staff socket only when its login session ended (a logout, or it ran out).
  if (reason === "io server disconnect") { location.assign("/login?next=/console"); return; }
  say(t("console.reconnecting"));
});
socket.on("offer", onOffer);
socket.on("offer_withdrawn", (data) => {
  if (agent.offer?.offer_id === data.offer_id) closeOffer(t(`console.withdrawn.${data.reason}`));
});
socket.on("state", (data) => {
  showState(data.state);
  if (["available", "away", "offline"].includes(data.state) && agent.wrapUpCallId) { // wrap-up time ran out
    clearInterval(agent.wrapUpTimer);
    agent.wrapUpCallId = null;
    closeWrapUp();
    hideTicket();
    loadToday();
    loadMyTickets();
  }
});
socket.on("signal", onSignal);
socket.on("chat", (message) => { if (message.call_id === call.id) addChat(t("console.customer"), message.text); });
socket.on("file_shared", (file) => {
  if (file.call_id !== call.id) return;
  addFile(file);
  say(t("console.file_arrived", { name: file.name }));
});
socket.on("call_ended", onCallEnded);
socket.on("call_resumed", resumeCall);

// A new file: the ticket reloads so the documents and history show it, and markers appear.
watchFiles(() => { if (ticket.reference) loadTicket(ticket.reference); else markers(); });

loadToday();
loadMyTickets();
setInterval(loadMyTickets, 60_000);
