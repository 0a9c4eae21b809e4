// webhook-gateway console: conveniences only; every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Filters apply when a choice changes (the Filter button still works without this).
  for (const select of document.querySelectorAll("form.filters select")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
  // The event list narrows to what the search box holds (every event is in the page).
  const search = document.getElementById("event-search");
  if (search) {
    search.addEventListener("input", () => {
      const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      for (const label of document.querySelectorAll("#event-list .event")) {
        const name = label.dataset.event.toLowerCase();
        label.hidden = !words.every((w) => name.includes(w)) && !label.querySelector("input").checked;
      }
    });
  }
});
