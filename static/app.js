// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Click a token/link field to select and copy it.
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-copy]");
    if (!el) return;
    el.select();
    if (navigator.clipboard) navigator.clipboard.writeText(el.value).catch(function () {});
  });

  // Errors htmx does not swap (403, 404, 5xx) still deserve a visible message.
  document.addEventListener("htmx:responseError", function (event) {
    var box = document.getElementById("flash");
    if (!box) {
      box = document.createElement("div");
      box.id = "flash";
      box.className = "alert error floating";
      box.setAttribute("role", "alert");
      document.body.appendChild(box);
    }
    var text = "";
    try {
      var doc = new DOMParser().parseFromString(event.detail.xhr.responseText, "text/html");
      var p = doc.querySelector("#error p");
      text = p ? p.textContent : "";
    } catch (e) { /* fall through to the generic message */ }
    box.textContent = text || "Something went wrong. Please reload the page and try again.";
  });
})();
