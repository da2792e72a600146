// Shared by the dashboard's modules: its texts, number and time formats in the page's language,
// and a table filler that leaves the table alone when nothing changed.
export const config = JSON.parse(document.getElementById("supervisor-config").textContent);
export const $ = (id) => document.getElementById(id);
const lang = config.lang;
const numbers = new Intl.NumberFormat(lang);
const twoDigits = new Intl.NumberFormat(lang, { minimumIntegerDigits: 2 });
const percents = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
const dateTimes = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });

export function t(key, values = {}) {
  const text = config.messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) =>
    typeof values[name] === "number" ? numbers.format(values[name]) : String(values[name] ?? ""));
}

/** A refusal from the server, in the page's language (the server's own message is English). */
export function errorText(error) {
  const code = error?.code;
  return (code && config.messages[`error.${code}`]) || t("error.unknown", { code: code ?? "?" });
}

export const number = (n) => (n === null || n === undefined ? "–" : numbers.format(n));
export const percent = (r) => (r === null || r === undefined ? "–" : percents.format(r));
export const dateTime = (iso) => dateTimes.format(new Date(iso));

/** Seconds as m:ss (or h:mm:ss), with the language's digits. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), rest = s % 60;
  return h ? `${numbers.format(h)}:${twoDigits.format(m)}:${twoDigits.format(rest)}`
    : `${numbers.format(m)}:${twoDigits.format(rest)}`;
}

export function queueLabel(category, language, signLanguage) {
  const service = config.services[category]?.[lang] ?? category;
  const parts = [service, t(`language.${language}`)];
  if (signLanguage) parts.push(t("supervisor.sign_language"));
  return parts.join(" · ");
}

export function queueOfBucket(bucket) {
  const [category, language, mark] = bucket.split("|");
  return queueLabel(category, language, mark === "sl");
}

/** A table cell: text, and optionally a class and data attributes (e.g. data-since). */
export function cell(text, { className = "", data = {}, header = false } = {}) {
  const td = document.createElement(header ? "th" : "td");
  if (header) td.scope = "row";
  td.textContent = text;
  if (className) td.className = className;
  for (const [k, v] of Object.entries(data)) td.dataset[k] = v;
  return td;
}

const signatures = new WeakMap();

/** Replace a tbody's rows only when their content changed, so focus and reading stay put. */
export function fillBody(tbody, rows, emptyText, columns) {
  const signature = JSON.stringify(rows.map((r) => r.key ?? r)) + emptyText;
  if (signatures.get(tbody) === signature) return false;
  signatures.set(tbody, signature);
  const made = rows.map((row) => {
    const tr = document.createElement("tr");
    tr.append(...row.cells());
    if (row.id) tr.dataset.id = row.id;
    return tr;
  });
  if (!made.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = cell(emptyText);
    td.colSpan = columns;
    tr.append(td);
    made.push(tr);
  }
  tbody.replaceChildren(...made);
  return true;
}
