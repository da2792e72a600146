// Dates and times in the page's language and in the service's own time zone.
const lang = document.documentElement.lang;
for (const element of document.querySelectorAll("time[datetime]")) {
  const format = new Intl.DateTimeFormat(lang, {
    weekday: "long", hour: "numeric", minute: "2-digit", timeZone: element.dataset.timezone || undefined,
    timeZoneName: "short",
  });
  element.textContent = format.format(new Date(element.getAttribute("datetime")));
}
