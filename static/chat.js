// Chat panel: keep the newest message in view and send with Ctrl+Enter. The panel works without
// this file (and without JavaScript at all: the form posts, history is a link).
(function () {
  "use strict";

  function nearBottom(log) {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function toBottom() {
    var log = document.getElementById("chat-log");
    if (log) log.scrollTop = log.scrollHeight;
  }

  document.addEventListener("DOMContentLoaded", toBottom);

  // A live message: skip it if it is already shown (the extension's own reconnect replays from
  // the page's first live position), and follow it if the reader was at the end of the log.
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var log = document.getElementById("chat-log");
    if (!log || event.target !== log) return;
    var id = event.detail && event.detail.type === "message" && event.detail.lastEventId;
    if (id && document.getElementById(id)) {
      event.preventDefault();
      return;
    }
    log.dataset.follow = nearBottom(log) ? "1" : "";
  });
  document.addEventListener("htmx:sseMessage", function (event) {
    var log = document.getElementById("chat-log");
    if (log && event.target === log && log.dataset.follow) toBottom();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    var box = event.target.closest && event.target.closest("#chat-form textarea");
    if (!box) return;
    event.preventDefault();
    var form = box.form;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });

  // After sending, put the cursor back in the fresh form.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id !== "chat-form" && !(event.detail && event.detail.elt && event.detail.elt.id === "chat-form")) return;
    var box = document.getElementById("chat-body");
    if (box) box.focus();
  });
})();
