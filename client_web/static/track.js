// Following a ticket: reference and secret code together, never the reference alone.
const config = JSON.parse(document.getElementById("track-config").textContent);
const t = (key, values = {}) => (config.messages[key] ?? key).replace(/\{(\w+)\}/g, (_, n) => values[n] ?? "");
const when = new Intl.DateTimeFormat(config.lang, { dateStyle: "full", timeStyle: "short" });

document.getElementById("track-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = document.getElementById("result");
  const response = await fetch("/api/track", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ reference: event.target.reference.value.trim(), code: event.target.code.value.trim() }),
  });
  result.replaceChildren();
  if (!response.ok) {
    result.textContent = t(response.status === 429 ? "track.throttled" : "track.not_found");
    return;
  }
  const ticket = await response.json();
  for (const text of [
    t("track.status", { status: t(`status.${ticket.status}`) }),
    t("track.due", { due: when.format(new Date(ticket.resolution_due_at)) }),
  ]) {
    const line = document.createElement("p");
    line.textContent = text;
    result.append(line);
  }
});
