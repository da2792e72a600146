// What every console module shares: the page's config, texts from the catalog, Intl formatting, the API.
export const config = JSON.parse(document.getElementById("console-config").textContent);
export const $ = (id) => document.getElementById(id);

const numbers = new Intl.NumberFormat(config.lang);
const twoDigits = new Intl.NumberFormat(config.lang, { minimumIntegerDigits: 2 });
const dateTime = new Intl.DateTimeFormat(config.lang, { dateStyle: "medium", timeStyle: "short" });

export function t(key, values = {}) {
  const text = config.messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) =>
    typeof values[name] === "number" ? numbers.format(values[name]) : String(values[name] ?? ""));
}

export const formatNumber = (n) => numbers.format(n);
export const formatDateTime = (iso) => dateTime.format(new Date(iso));

/** m:ss (or h:mm:ss) in the page's digits: for countdowns and talk times. */
export function formatClock(totalSeconds) {
  const s = Math.max(0, Math.round(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = `${twoDigits.format(minutes)}:${twoDigits.format(s % 60)}`;
  return hours ? `${numbers.format(hours)}:${rest}` : rest;
}

/** A longer span (SLA time left): days, hours and minutes in words of the page's language; in the
 * last hour minutes and seconds, so the countdown visibly runs down to the deadline. */
export function formatSpan(totalSeconds) {
  const s = Math.abs(Math.round(totalSeconds));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (s < 3600) return t("console.span_minutes", { minutes, seconds: s % 60 });
  return t(days ? "console.span_days" : "console.span_hours", { days, hours, minutes });
}

export function say(text) { $("status").textContent = text; }

export function fail(message) {
  const error = $("error");
  error.textContent = t("console.error", { reason: message });
  error.hidden = false;
}

/** A refusal from the server, in the page's language (the server's own message is English). */
export function errorText(error) {
  const code = error?.code;
  return (code && config.messages[`error.${code}`]) || t("error.unknown", { code: code ?? "?" });
}

export function clearError() { $("error").hidden = true; }

/** JSON over fetch with the session's CSRF token; a refusal throws with its text in the page's language. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = config.csrf_token;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin" });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(errorText(data.error ?? { code: response.status }));
  return data;
}

/** The server's clock may differ from ours: deadlines are shown against the server's "now". */
let skewMs = 0;
export function syncClock(serverNowIso) { skewMs = new Date(serverNowIso).getTime() - Date.now(); }
export function serverNow() { return Date.now() + skewMs; }

export function serviceName(code) {
  const service = config.services[code];
  return service ? service.name[config.lang] : code;
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}
