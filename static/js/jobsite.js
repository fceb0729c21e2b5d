// jobsite: the few things plain HTML cannot do. Loaded as a file (the CSP allows no
// inline script); every page works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // --- connection lost: a banner while requests fail, gone with the first success ----
  const banner = () => document.getElementById("offline-banner");
  function offline() { const b = banner(); if (b) b.hidden = false; }
  function online() { const b = banner(); if (b) b.hidden = true; }
  document.addEventListener("htmx:sendError", offline);
  document.addEventListener("htmx:timeout", offline);
  document.addEventListener("htmx:responseError", function (event) {
    // A 5xx or a gateway error means the server is not answering; a 4xx is an answer.
    if (event.detail.xhr && event.detail.xhr.status >= 500) offline();
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) online();
  });
  document.addEventListener("jobsite:offline", offline);
  document.addEventListener("jobsite:online", online);

  // --- copy buttons -------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        const source = document.getElementById(button.dataset.copyTarget);
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          const label = button.textContent;
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = label; }, 1500);
        });
      });
    });
    // A form that came back with errors: the first invalid field gets the focus.
    const invalid = document.querySelector(
      "main .has-error :is(input, select, textarea):not([type=hidden]), main [aria-invalid='true']");
    if (invalid) invalid.focus();
  });

  // --- confirmation for destructive actions: <form data-confirm="…"> ------------------
  // Without JavaScript the form simply posts; with it, a <dialog> asks first (a modal
  // element, not window.confirm, so it can be styled and read by screen readers).
  let confirmDialog = null;
  function askToConfirm(form, submitter) {
    if (!confirmDialog) {
      confirmDialog = document.createElement("dialog");
      confirmDialog.className = "confirm-dialog";
      confirmDialog.setAttribute("aria-labelledby", "confirm-text");
      confirmDialog.innerHTML = '<form method="dialog"><p id="confirm-text"></p><div class="actions">' +
        '<button value="cancel" type="submit">Keep it</button> <button value="ok" type="submit" class="danger">Yes</button></div></form>';
      document.body.appendChild(confirmDialog);
    }
    confirmDialog.querySelector("#confirm-text").textContent = form.dataset.confirm;
    confirmDialog.querySelector("button[value=ok]").textContent = form.dataset.confirmButton || "Yes";
    confirmDialog.returnValue = "";
    confirmDialog.onclose = function () {
      if (confirmDialog.returnValue === "ok") {
        form.dataset.confirmed = "yes";
        form.requestSubmit(submitter || undefined);
      }
    };
    confirmDialog.showModal();
    confirmDialog.querySelector("button[value=cancel]").focus();
  }
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.matches("form[data-confirm]")) return;
    if (form.dataset.confirmed === "yes") { delete form.dataset.confirmed; return; }
    event.preventDefault();
    askToConfirm(form, event.submitter);
  }, true);

  // --- ticking durations between two polls ---------------------------------------------
  function formatDuration(ms) {
    if (ms < 1000) return ms + " ms";
    const seconds = ms / 1000;
    if (seconds < 60) return seconds.toFixed(1) + " s";
    let minutes = Math.floor(seconds / 60);
    const rest = Math.floor(seconds % 60);
    if (minutes < 60) return minutes + " min " + String(rest).padStart(2, "0") + " s";
    const hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    return hours + " h " + String(minutes).padStart(2, "0") + " min";
  }

  setInterval(function () {
    const now = Date.now();
    document.querySelectorAll("[data-tick-ms]").forEach(function (element) {
      if (!element.dataset.tickAt) element.dataset.tickAt = String(now);
      const elapsed = Number(element.dataset.tickMs) + (now - Number(element.dataset.tickAt));
      element.textContent = formatDuration(elapsed);
    });
  }, 1000);

  // --- small conveniences ------------------------------------------------------------
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.matches("[data-select-on-focus]")) event.target.select();
  });
})();
