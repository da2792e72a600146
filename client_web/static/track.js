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
    // While the agency waits on the customer its answer time is on hold: no date would be true.
    ticket.on_hold ? t("track.on_hold") : t("track.due", { due: when.format(new Date(ticket.resolution_due_at)) }),
  ]) {
    const line = document.createElement("p");
    line.textContent = text;
    result.append(line);
  }
  const finished = ticket.status === "resolved" || ticket.status === "closed";
  if (!finished && ticket.documents_missing.length) {
    const heading = document.createElement("h2");
    heading.id = "missing-heading";
    heading.textContent = t("track.missing");
    const list = document.createElement("ul");
    list.id = "missing";
    list.setAttribute("aria-labelledby", "missing-heading");
    for (const doc of ticket.documents_missing) {
      const item = document.createElement("li");
      item.textContent = config.lang === "ar" ? doc.name_ar : doc.name_en;
      list.append(item);
    }
    result.append(heading, list);
  }
});
