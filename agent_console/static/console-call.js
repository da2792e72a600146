// The call itself: WebRTC as the IMPOLITE peer of perfect negotiation (docs/protocol.md), the
// customer's camera and shared screen, own camera and screen, chat, and the files the customer sends.
import { $, el, errorText, fail, t } from "./console-common.js";

export const call = {
  socket: null, id: null, pc: null, local: null, screen: null, screenSender: null,
  makingOffer: false, ignoreOffer: false, chain: Promise.resolve(),
  camera: null, customerScreen: null, screenLarge: true, files: new Map(),
};
window.agentCall = call; // tests read getStats() from here

let onFilesChanged = () => {};
export function watchFiles(callback) { onFilesChanged = callback; }

export async function startCall(socket, answer) {
  call.socket = socket;
  call.id = answer.call_id;
  call.files.clear();
  $("file-list").replaceChildren();
  $("no-files").hidden = false;
  $("chat-log").replaceChildren();
  closeViewer();
  if (!call.local) {
    call.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } });
  }
  $("local-video").srcObject = call.local;
  const pc = new RTCPeerConnection({ iceServers: answer.ice_servers });
  call.pc = pc;
  pc.ontrack = onTrack;
  pc.onicecandidate = ({ candidate }) => signal({ candidate: candidate ? candidate.toJSON() : null });
  pc.onnegotiationneeded = async () => {
    try {
      call.makingOffer = true;
      await pc.setLocalDescription();
      await signal({ description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
    } catch (error) {
      console.warn(error);
    } finally { call.makingOffer = false; }
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected") socket.emitWithAck("media_connected", { call_id: call.id });
    if (pc.connectionState === "failed") pc.restartIce();
  };
  for (const track of call.local.getTracks()) pc.addTrack(track, call.local);
}

export function resumeCall(data) {
  if (call.pc && data.call_id === call.id) call.pc.restartIce();
}

export function endCall() {
  stopShare();
  call.pc?.close();
  call.pc = null;
  call.camera = call.customerScreen = null;
  for (const id of ["main-video", "side-video"]) $(id).srcObject = null;
  $("screen-badge").hidden = true;
  $("switch-view").hidden = true;
}

function signal(payload) {
  return call.socket.emitWithAck("signal", { call_id: call.id, ...payload });
}

export function onSignal(message) {
  if (message.call_id !== call.id) return;
  call.chain = call.chain.then(() => handleSignal(message)).catch((error) => console.error(error));
}

async function handleSignal({ description, candidate }) {
  const pc = call.pc;
  if (!pc) return;
  if (description) {
    const collision = description.type === "offer" && (call.makingOffer || pc.signalingState !== "stable");
    // Impolite: on a collision our own offer wins and theirs is dropped (the customer rolls back).
    call.ignoreOffer = collision;
    if (collision) return;
    await pc.setRemoteDescription(description);
    if (description.type === "offer") {
      await pc.setLocalDescription();
      await signal({ description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
    }
  } else if (candidate !== undefined) {
    try { await pc.addIceCandidate(candidate ?? null); } catch (error) { if (!call.ignoreOffer) throw error; }
  }
}

// --- what the customer sends: the camera first, a shared screen as a second video stream --------
function onTrack({ track, streams }) {
  const stream = streams[0] ?? new MediaStream([track]);
  if (track.kind === "audio") {
    if (!call.camera) call.camera = stream;
    return;
  }
  if (!call.camera || call.camera.id === stream.id) {
    call.camera = stream;
  } else {
    call.customerScreen = stream;
    call.screenLarge = true; // a screen that just arrived is what the customer wants us to see
    stream.addEventListener("removetrack", () => {
      if (stream.getVideoTracks().length === 0 && call.customerScreen === stream) {
        call.customerScreen = null;
        layout();
      }
    });
    track.addEventListener("ended", () => { if (call.customerScreen === stream) { call.customerScreen = null; layout(); } });
  }
  layout();
}

function show(video, stream) {
  if (video.srcObject === stream) return;
  video.srcObject = stream;
  // Chromium may leave a re-attached stream paused; autoplay alone is not enough here.
  if (stream) video.play().catch(() => {});
}

function layout() {
  const screen = call.customerScreen;
  const large = screen && call.screenLarge ? screen : call.camera;
  const small = screen ? (call.screenLarge ? call.camera : screen) : null;
  show($("main-video"), large);
  $("main-video").setAttribute("aria-label", t(large === screen ? "console.customer_screen" : "console.customer_video"));
  $("side-video").hidden = !small;
  show($("side-video"), small);
  $("side-video").setAttribute("aria-label", t(small === screen ? "console.customer_screen" : "console.customer_video"));
  // Only one element may play the customer's sound: the camera stream carries it.
  $("main-video").muted = large !== call.camera;
  $("screen-badge").hidden = !screen;
  const button = $("switch-view");
  button.hidden = !screen;
  button.textContent = t(call.screenLarge ? "console.show_camera" : "console.show_screen");
}

$("switch-view").addEventListener("click", () => { call.screenLarge = !call.screenLarge; layout(); });

// --- own controls ---------------------------------------------------------------------------------
// Toggle buttons keep their name; aria-pressed (and its look) says the state, as on the
// customer's page.
function toggle(button, kind) {
  button.addEventListener("click", () => {
    if (!call.local) return;
    const tracks = kind === "audio" ? call.local.getAudioTracks() : call.local.getVideoTracks();
    const off = button.getAttribute("aria-pressed") !== "true";
    for (const track of tracks) track.enabled = !off;
    button.setAttribute("aria-pressed", String(off));
  });
}
toggle($("mute"), "audio");
toggle($("camera"), "video");

$("share").addEventListener("click", () => (call.screen ? stopShare() : startShare().catch((e) => fail(e.message))));

export async function startShare() {
  if (!call.pc || call.screen) return;
  call.screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
  const [track] = call.screen.getVideoTracks();
  track.contentHint = "detail";
  track.addEventListener("ended", stopShare);
  call.screenSender = call.pc.addTrack(track, call.screen); // renegotiates: we make the offer
  $("share").setAttribute("aria-pressed", "true");
}

function stopShare() {
  if (!call.screen) return;
  for (const track of call.screen.getTracks()) track.stop();
  if (call.screenSender && call.pc) call.pc.removeTrack(call.screenSender);
  call.screen = call.screenSender = null;
  $("share").setAttribute("aria-pressed", "false");
}

$("hang-up").addEventListener("click", async () => {
  const ack = await call.socket.emitWithAck("hang_up", { call_id: call.id });
  if (!ack.ok) fail(errorText(ack.error));
});

// --- chat -------------------------------------------------------------------------------------
export function addChat(who, text) {
  $("chat-log").append(el("li", {}, el("strong", {}, `${who}: `), text));
}

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text || !call.id) return;
  const ack = await call.socket.emitWithAck("chat", { call_id: call.id, text });
  if (ack.ok) { addChat(t("console.you"), text); $("chat-text").value = ""; } else fail(errorText(ack.error));
});

// --- files the customer shares, and the viewer ---------------------------------------------------
const VIEWABLE = { "application/pdf": "pdf", "image/png": "image", "image/jpeg": "image" };

export function addFile(file) {
  if (call.files.has(file.attachment_id)) return;
  call.files.set(file.attachment_id, file);
  $("no-files").hidden = true;
  const size = t("console.kilobytes", { size: Math.max(1, Math.round(file.size / 1024)) });
  const open = el("button", { type: "button", class: "link" }, t("console.open_file", { name: file.name }));
  open.addEventListener("click", () => openViewer(file));
  const item = el("li", { "data-attachment": String(file.attachment_id) }, open, " ", el("span", { class: "muted" }, size));
  $("file-list").append(item);
  onFilesChanged(file);
}

export function openViewer(file) {
  const url = `/api/attachments/${encodeURIComponent(file.attachment_id)}`;
  const kind = VIEWABLE[file.content_type];
  const body = $("viewer-body");
  if (kind === "image") {
    body.replaceChildren(el("img", { src: url, alt: file.name }));
  } else if (kind === "pdf") {
    body.replaceChildren(el("iframe", { src: url, title: file.name }));
  } else {
    body.replaceChildren(el("a", { href: url, download: file.name }, t("console.download", { name: file.name })));
  }
  $("viewer-name").textContent = file.name;
  $("viewer").hidden = false;
  $("viewer-heading").tabIndex = -1;
  $("viewer-heading").focus();
}

function closeViewer() {
  $("viewer").hidden = true;
  $("viewer-body").replaceChildren();
}
$("viewer-close").addEventListener("click", closeViewer);
