// The customer's video visit: start, device check, waiting room, call, rating.
// Speaks docs/protocol.md over Socket.IO; the customer is the *polite* peer of perfect negotiation.
import { io } from "/static/vendor/socket.io/socket.io.esm.min.js";

const config = JSON.parse(document.getElementById("visit-config").textContent);
const $ = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat(config.lang);

function t(key, values = {}) {
  const text = config.messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) =>
    typeof values[name] === "number" ? numbers.format(values[name]) : String(values[name] ?? ""));
}

function show(step) {
  for (const id of ["step-start", "step-device", "step-waiting", "step-removed", "step-call", "step-after"]) {
    $(id).hidden = id !== step;
  }
  const heading = $(step).querySelector("h2, h1");
  if (heading) { heading.tabIndex = -1; heading.focus(); }
}

function say(text) { $("status").textContent = text; }
/** A refusal from the server, in the page's language (the server's own message is English). */
function errorText(error) {
  const code = error?.code;
  return (code && config.messages[`error.${code}`]) || t("error.unknown", { code: code ?? "?" });
}
function fail(reason) { const e = $("error"); e.textContent = t("visit.error", { reason }); e.hidden = false; }

const state = { token: null, socket: null, pc: null, callId: null, local: null, screen: null,
  screenSender: null, makingOffer: false, ignoreOffer: false, signLanguage: false, chain: Promise.resolve() };
window.visit = state; // tests read call state and getStats() from here

// --- start: open now, or leave a request -------------------------------------------------------
function showOpening() {
  const service = config.services[$("category").value];
  const closed = service && !service.open_now;
  $("closed").hidden = !closed;
  $("start").hidden = closed;
  $("request-form").hidden = !closed;
  if (closed) {
    const when = new Intl.DateTimeFormat(config.lang, { weekday: "long", hour: "numeric", minute: "2-digit",
      timeZone: service.timezone, timeZoneName: "short" }).format(new Date(service.opens_at));
    $("closed").textContent = t("visit.closed", { when });
  }
}
$("category").addEventListener("change", showOpening);
showOpening();

$("request-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/api/requests", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ category: $("category").value, language: config.lang,
      display_name: $("display-name").value.trim() || null, phone: $("phone").value.trim() || null,
      sign_language: $("sign-language").checked, message: $("request-message").value.trim() }) });
  const body = await response.json();
  if (response.status !== 201) { fail(errorText(body.error ?? { code: response.status })); return; }
  $("request-form").hidden = true;
  const result = $("request-result");
  for (const text of [t("visit.request_sent"), t("visit.reference", { reference: body.reference }),
    t("visit.code", { code: body.secret_code }), t("visit.keep_code")]) {
    const line = document.createElement("p");
    line.textContent = text;
    result.append(line);
  }
});

// --- start ------------------------------------------------------------------------------------
$("start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  state.signLanguage = $("sign-language").checked;
  try {
    const response = await fetch("/api/visits", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ language: config.lang }) });
    if (!response.ok) throw new Error(response.status);
    state.token = (await response.json()).token;
    show("step-device");
    state.devices = startDevices(); // joining waits for it: the call needs to know what it can send
    await state.devices;
  } catch (error) { fail(error.message); }
});

// --- device check -----------------------------------------------------------------------------
async function startDevices() {
  // Sign language needs frame rate more than resolution (EN 301 549 6.5): ask for 30 fps.
  const video = state.signLanguage
    ? { width: { ideal: 640, min: 320 }, height: { ideal: 480, min: 240 }, frameRate: { ideal: 30, min: 20 } }
    : { width: { ideal: 640 }, height: { ideal: 480 } };
  try {
    state.local = await navigator.mediaDevices.getUserMedia({ audio: true, video });
  } catch (error) {
    const denied = error.name === "NotAllowedError" || error.name === "SecurityError";
    fail(t(denied ? "visit.no_permission" : "visit.no_device"));
    return;
  }
  if (state.signLanguage) {
    for (const track of state.local.getVideoTracks()) track.contentHint = "motion";
  }
  $("preview").srcObject = state.local;
  meterMicrophone(state.local);
  echoTest().catch((error) => {
    console.warn(error);
    stopEcho();
    $("echo-result").textContent = [error.refusal, t("visit.echo_failed")].filter(Boolean).join(" ");
  });
}

// The server's aiortc peer sends our own video back: RTT, loss and frame rate on a real loop. The
// returned video keeps playing after the verdict, while the customer gets ready, until they join or
// the server's time for the echo is up; then it is taken away, never left frozen on screen.
async function echoTest() {
  $("echo-result").textContent = t("visit.echo_running");
  // The operator's STUN servers only (no credentials needed): the server reaches us at the address
  // they see, through its TURN relay if it has one. None configured: host candidates only.
  const pc = new RTCPeerConnection({ iceServers: config.stun_urls.length ? [{ urls: config.stun_urls }] : [] });
  state.echoPc = pc;
  pc.addTrack(state.local.getVideoTracks()[0], state.local);
  pc.ontrack = ({ track }) => { $("echo-video").srcObject = new MediaStream([track]); };
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "failed" && state.echoPc === pc) stopEcho();
  });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => { // no trickle over HTTP: send the offer with all its candidates
    if (pc.iceGatheringState === "complete") resolve();
    pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); });
  });
  const response = await fetch(`/api/echo?lang=${config.lang}`, { method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${state.token}` },
    body: JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }) });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw Object.assign(new Error(`echo ${response.status}`), { refusal: errorText(body.error ?? { code: response.status }) });
  }
  if (state.echoPc !== pc) return; // the customer joined meanwhile
  await pc.setRemoteDescription({ type: body.type, sdp: body.sdp });
  // The server ends its peer after `seconds`: end ours a second before, so the picture never freezes.
  state.echoTimer = setTimeout(() => { if (state.echoPc === pc) stopEcho(); }, Math.max(0, body.seconds - 1) * 1000);
  // Frame rate is averaged over a window once the loop has started (one reading is noisy): frames
  // decoded after the round trip through the server, counted between two readings 2.5 s apart.
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  await sleep(1500);
  const first = await readEcho(pc);
  await sleep(2500);
  const last = await readEcho(pc);
  const seconds = (last.at - first.at) / 1000;
  const figures = { rtt: last.rtt, loss: last.loss, fps: seconds > 0 ? (last.frames - first.frames) / seconds : 0 };
  const verdict = echoVerdict(figures, state.signLanguage);
  state.echo = { ...figures, verdict };
  $("echo-result").textContent = `${t("visit.echo_result", {
    rtt: Math.round(figures.rtt ?? 0), loss: Math.round(figures.loss), fps: Math.round(figures.fps) })} ${t(verdict)}`;
}

/** End the echo (the customer joins, or its time is up): the server frees its slot at once. */
function stopEcho() {
  clearTimeout(state.echoTimer);
  state.echoPc?.close();
  state.echoPc = null;
  const video = $("echo-video");
  video.srcObject = null;
  video.hidden = true;
}

async function readEcho(pc) {
  const reading = { at: performance.now(), rtt: null, loss: 0, frames: 0 };
  (await pc.getStats()).forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime != null) reading.rtt = s.currentRoundTripTime * 1000;
    if (s.type === "remote-inbound-rtp" && s.fractionLost != null) reading.loss = s.fractionLost * 100;
    if (s.type === "inbound-rtp" && s.kind === "video") reading.frames = s.framesDecoded ?? 0;
  });
  return reading;
}

/** Minimum frame rates, in frames per second, of the echoed video: any video, and sign language. */
export const MIN_FPS = 10;
export const MIN_FPS_SIGN = 20;

/** The echo test's message key for measured figures: {rtt (ms or null), loss (%), fps}. The frame
 * rate is compared as shown (rounded), so the page never says "20 frames per second" and "needs 20". */
export function echoVerdict({ rtt, loss, fps }, signLanguage) {
  const shownFps = Math.round(fps);
  if (signLanguage && shownFps < MIN_FPS_SIGN) return "visit.echo_weak_sign";
  if (rtt == null || rtt > 400 || loss > 5 || shownFps < MIN_FPS) return "visit.echo_weak";
  return "visit.echo_good";
}

function meterMicrophone(stream) {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const tick = () => {
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const s of samples) peak = Math.max(peak, Math.abs(s - 128) / 128);
    $("mic-level").value = peak;
    if (!$("step-device").hidden) requestAnimationFrame(tick);
  };
  tick();
}

$("join").addEventListener("click", async () => {
  $("join").disabled = true; // one socket per visit, however often it is clicked
  try { await state.devices; } catch { /* the start step reported it */ } // a refused camera settles it too
  stopEcho();
  connectSocket();
});

// --- waiting room -----------------------------------------------------------------------------
function connectSocket() {
  const socket = io("/customer", { auth: { token: state.token }, transports: ["websocket"] });
  state.socket = socket;
  socket.on("connect", async () => {
    say("");
    if (state.callId) return; // back within the grace period: the server resends "connected"
    const ack = await socket.emitWithAck("join", {
      category: $("category").value, language: config.lang, sign_language: state.signLanguage,
      display_name: $("display-name").value.trim() || null,
      phone: $("phone").value.trim() || null,
    });
    if (!ack.ok) { if (ack.error.code !== "already_queued") fail(errorText(ack.error)); return; }
    show("step-waiting");
    showPosition(ack);
  });
  socket.on("disconnect", () => {
    if (!$("step-after").hidden || state.removed) return;
    say(t("visit.reconnecting"));
  });
  socket.on("queue_position", (data) => {
    // Sent only to people in line: if we thought we were in a call, we missed "requeued".
    if (state.callId && !state.ended) { endPeer(); state.callId = null; show("step-waiting"); }
    showPosition(data);
  });
  socket.on("requeued", (data) => { endPeer(); show("step-waiting"); showPosition(data); });
  socket.on("connected", onConnected);
  socket.on("signal", (message) => { state.chain = state.chain.then(() => onSignal(message)).catch(console.error); });
  socket.on("chat", (message) => addChat(t("visit.agent"), message.text));
  socket.on("call_ended", onCallEnded);
  socket.on("removed_from_line", onRemoved);
}

// Staff took us out of the line: say so, and offer a fresh start (a new visit, a new place).
function onRemoved() {
  state.removed = true;
  state.socket.disconnect();
  say("");
  $("start-again").href = `/visit?category=${encodeURIComponent($("category").value)}&lang=${config.lang}`;
  show("step-removed");
}

function showPosition({ position, estimated_wait_seconds: wait }) {
  if (position === 0) { $("position").textContent = t("visit.being_connected"); return; }
  const place = t("visit.position", { position });
  const eta = wait == null ? t("visit.eta_unknown") : t("visit.eta", { minutes: Math.max(1, Math.round(wait / 60)) });
  $("position").textContent = `${place}. ${eta}`;
}

$("leave").addEventListener("click", async () => {
  await state.socket.emitWithAck("leave", {});
  state.socket.disconnect();
  window.location.href = "/";
});

// --- the call: perfect negotiation, polite side ------------------------------------------------
async function onConnected(data) {
  if (state.pc && data.call_id === state.callId) { state.pc.restartIce(); return; } // resumed
  if (state.pc) endPeer(); // a new call (after a transfer): the old connection goes
  state.callId = data.call_id;
  state.reference = data.ticket_reference;
  show("step-call");
  const pc = new RTCPeerConnection({ iceServers: data.ice_servers });
  state.pc = pc;
  pc.ontrack = ({ streams, track }) => {
    // The agent's camera first; a later video track (the agent's shared screen) replaces the view.
    const stream = streams[0] ?? new MediaStream([track]);
    if (!$("remote-video").srcObject || track.kind === "video") $("remote-video").srcObject = stream;
  };
  pc.onicecandidate = ({ candidate }) => signal({ candidate: candidate ? candidate.toJSON() : null });
  pc.onnegotiationneeded = async () => {
    try {
      state.makingOffer = true;
      await pc.setLocalDescription();
      await signal({ description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
    } finally { state.makingOffer = false; }
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected") state.socket.emitWithAck("media_connected", { call_id: state.callId });
    if (pc.connectionState === "failed") pc.restartIce();
  };
  $("local-video").srcObject = state.local;
  if (!state.local) { // no camera or microphone: still see and hear the agent, and chat
    for (const kind of ["audio", "video"]) pc.addTransceiver(kind, { direction: "recvonly" });
    return;
  }
  for (const track of state.local.getTracks()) {
    const sender = pc.addTrack(track, state.local);
    if (state.signLanguage && track.kind === "video") await preferFrameRate(sender);
  }
}

async function preferFrameRate(sender) {
  const parameters = sender.getParameters();
  parameters.degradationPreference = "maintain-framerate";
  try { await sender.setParameters(parameters); } catch (error) { console.warn(error); }
}

function signal(payload) {
  return state.socket.emitWithAck("signal", { call_id: state.callId, ...payload });
}

async function onSignal({ description, candidate }) {
  const pc = state.pc;
  if (!pc) return;
  if (description) {
    const collision = description.type === "offer" && (state.makingOffer || pc.signalingState !== "stable");
    state.ignoreOffer = false; // polite: never ignore, roll back instead
    if (collision) await pc.setLocalDescription({ type: "rollback" });
    await pc.setRemoteDescription(description);
    if (description.type === "offer") {
      await pc.setLocalDescription();
      await signal({ description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
    }
  } else if (candidate !== undefined) {
    try { await pc.addIceCandidate(candidate ?? null); } catch (error) { if (!state.ignoreOffer) throw error; }
  }
}

// --- controls ---------------------------------------------------------------------------------
// Toggle buttons keep their name; aria-pressed (and its look) says the state. A name that
// changed too would be read as "Unmute microphone, pressed": the opposite of what is meant.
function toggle(button, kind) {
  button.addEventListener("click", () => {
    if (!state.local) return; // nothing to mute
    const tracks = kind === "audio" ? state.local.getAudioTracks() : state.local.getVideoTracks();
    const off = button.getAttribute("aria-pressed") !== "true";
    for (const track of tracks) track.enabled = !off;
    button.setAttribute("aria-pressed", String(off));
  });
}
toggle($("mute"), "audio");
toggle($("camera"), "video");

$("share").addEventListener("click", () => (state.screen ? stopShare() : startShare()));

async function startShare() {
  state.screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
  const [track] = state.screen.getVideoTracks();
  track.addEventListener("ended", stopShare);
  state.screenSender = state.pc.addTrack(track, state.screen); // a second video track: renegotiates
  $("share").setAttribute("aria-pressed", "true");
  $("sharing").hidden = false;
}
window.startShare = startShare;

function stopShare() {
  if (!state.screen) return;
  for (const track of state.screen.getTracks()) track.stop();
  if (state.screenSender) state.pc.removeTrack(state.screenSender);
  state.screen = state.screenSender = null;
  $("share").setAttribute("aria-pressed", "false");
  $("sharing").hidden = true;
}

$("hang-up").addEventListener("click", () => state.socket.emitWithAck("hang_up", { call_id: state.callId }));

// --- chat -------------------------------------------------------------------------------------
function addChat(who, text) {
  const item = document.createElement("li");
  const name = document.createElement("strong");
  name.textContent = `${who}: `;
  item.append(name, document.createTextNode(text));
  $("chat-log").append(item);
}

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  const ack = await state.socket.emitWithAck("chat", { call_id: state.callId, text });
  if (ack.ok) { addChat(t("visit.you"), text); $("chat-text").value = ""; } else fail(errorText(ack.error));
});

// --- files ------------------------------------------------------------------------------------
function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const request = new XMLHttpRequest();
  request.open("POST", `/api/calls/${encodeURIComponent(state.callId)}/files`);
  request.setRequestHeader("Authorization", `Bearer ${state.token}`);
  request.upload.onprogress = (e) => { if (e.lengthComputable) $("upload-progress").value = (100 * e.loaded) / e.total; };
  request.onload = () => {
    const body = JSON.parse(request.responseText || "{}");
    const item = document.createElement("li");
    item.textContent = request.status === 201
      ? t("visit.uploaded", { name: body.name })
      : t("visit.upload_failed", { reason: errorText(body.error ?? { code: request.status }) });
    $("file-list").append(item);
  };
  request.send(form);
}

$("file-input").addEventListener("change", () => { for (const file of $("file-input").files) upload(file); });
const zone = $("drop-zone");
zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  for (const file of event.dataTransfer.files) upload(file);
});

// --- after the call ---------------------------------------------------------------------------
function endPeer() {
  stopShare();
  if (state.pc) state.pc.close();
  state.pc = null;
  $("remote-video").srcObject = null;
}

function onCallEnded(data) {
  if (state.ended) return; // repeated after a reconnection
  endPeer();
  state.ended = data;
  $("reference").textContent = t("visit.reference", { reference: data.ticket_reference });
  $("secret-code").textContent = data.secret_code ? t("visit.code", { code: data.secret_code }) : "";
  $("follow-link").href = `/track?reference=${encodeURIComponent(data.ticket_reference)}`;
  for (const track of state.local?.getTracks() ?? []) track.stop();
  show("step-after");
  // The socket stays open until the page closes: a hang-up's acknowledgement may still be on its way.
}

$("rating-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const rating = Number(new FormData(event.target).get("rating"));
  const response = await fetch(`/api/calls/${encodeURIComponent(state.callId)}/rating`, {
    method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${state.token}` },
    body: JSON.stringify({ rating, comment: $("rating-comment").value.trim() || null }),
  });
  if (response.status === 201) { $("rating-form").hidden = true; say(t("visit.thanks_rating")); }
  else fail(errorText((await response.json().catch(() => ({}))).error ?? { code: response.status }));
});
