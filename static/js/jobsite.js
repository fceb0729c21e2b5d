// jobsite: the few things plain HTML cannot do. Loaded as a file (the CSP allows no
// inline script); every page works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // --- log tail: follow new lines while the reader is at the bottom -------------------
  let following = true;
  const nearBottom = (box) => box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  const logBox = () => document.getElementById("log");
  const followButton = () => document.getElementById("log-follow");

  function showFollowState() {
    const button = followButton();
    if (button) button.hidden = following;
  }

  function follow() {
    const box = logBox();
    if (!box) return;
    box.scrollTop = box.scrollHeight;
    following = true;
    showFollowState();
  }

  document.addEventListener("DOMContentLoaded", function () {
    const box = logBox();
    if (!box) return;
    const poller = document.getElementById("job-poller");
    if (poller && poller.dataset.polling === "yes") follow();
    box.addEventListener("scroll", function () {
      following = nearBottom(box);
      showFollowState();
    }, { passive: true });
    const button = followButton();
    if (button) button.addEventListener("click", follow);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "log-lines" && following) follow();
  });

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
