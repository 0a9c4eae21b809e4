// webhook-gateway console: conveniences only; every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Filters apply when a choice changes (the Filter button still works without this).
  for (const select of document.querySelectorAll("form.filters select")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
