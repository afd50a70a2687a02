// "Copy Markdown" on the export preview: the clipboard API needs a secure context and a user
// gesture; where it is missing or refused, the text is selected for the reader to copy.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy-markdown");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    var status = button.parentElement.querySelector(".copy-status");
    if (!source) return;
    function say(text) { if (status) status.textContent = text; }
    function fallback() {
      source.focus();
      source.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      say(copied ? button.dataset.copied : button.dataset.failed);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(function () {
        say(button.dataset.copied);
      }, fallback);
    } else {
      fallback();
    }
  });
})();
