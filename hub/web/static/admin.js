// Live job progress over server-sent events. Without JavaScript the page still shows the state
// at the time it was loaded; with it, counts, phase and errors follow the job as it runs.
(function () {
  "use strict";

  function set(root, field, text) {
    root.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) {
      el.textContent = text;
    });
  }

  function follow(root) {
    var url = root.getAttribute("data-job-events");
    if (!url || !window.EventSource) { return; }
    var source = new EventSource(url);
    var live = root.querySelector('[data-field="live"]');
    if (live) { live.hidden = false; }
    source.onmessage = function (event) {
      var job = JSON.parse(event.data);
      var status = root.querySelector('[data-field="status"]');
      if (status) {
        status.innerHTML = "";
        var badge = document.createElement("span");
        badge.className = "badge s-" + job.status;
        badge.textContent = job.status;
        status.appendChild(badge);
      }
      set(root, "phase", job.phase || "—");
      set(root, "done", String(job.done));
      set(root, "total", job.total === null ? "?" : String(job.total));
      set(root, "failed", String(job.failed));
      set(root, "error_count", String(job.error_count));
      set(root, "heartbeat_at", job.heartbeat_at ? job.heartbeat_at.replace("T", " ").slice(0, 19) + " UTC" : "never");
      var bar = root.querySelector('[data-field="bar"]');
      if (bar) {
        bar.max = job.total || 1;
        bar.value = job.total ? job.done : (job.status === "succeeded" ? 1 : 0);
      }
      var list = root.querySelector('[data-field="errors"]');
      if (list) {
        list.innerHTML = "";
        job.errors.slice(-20).forEach(function (e) {
          var li = document.createElement("li");
          var code = document.createElement("code");
          code.textContent = e.item || "";
          li.appendChild(code);
          li.appendChild(document.createTextNode(" " + e.message));
          list.appendChild(li);
        });
      }
      root.setAttribute("data-status", job.status);
    };
    source.addEventListener("end", function () {
      source.close();
      if (live) { live.textContent = "Finished."; }
      root.setAttribute("data-ended", "1");
      if (root.hasAttribute("data-reload-on-end")) { window.location.reload(); }
    });
    source.addEventListener("gone", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-job-events]").forEach(follow);
    // Buttons that ask before doing something drastic.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  });
})();
