// The student list import's page while the worker runs: asks for the progress every 1.5 s,
// shows it, and reloads the page (with the outcome) when the import ends. Without this
// script the page's "Refresh" link does the same by hand.
"use strict";
(function () {
  const box = document.querySelector("[data-progress-url]");
  if (!box) {
    return;
  }
  const bar = document.getElementById("import-progress");
  const status = document.getElementById("import-status");
  async function ask() {
    try {
      const response = await fetch(box.dataset.progressUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      const progress = await response.json();
      if (!progress.running) {
        window.location.reload();
        return;
      }
      if (progress.total) {
        bar.max = progress.total;
        bar.value = progress.checked;
      }
      if (status.textContent !== progress.text) {
        status.textContent = progress.text;
      }
    } catch (error) {
      // The next question may find the server again; the link still works meanwhile.
    }
    window.setTimeout(ask, 1500);
  }
  window.setTimeout(ask, 1500);
})();
