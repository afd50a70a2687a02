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
    box.textContent = text || document.body.dataset.errorMessage ||
      "Something went wrong. Please reload the page and try again.";
  });

  // Dates are shown in the reader's time zone: tell the server which one this browser uses
  // (the dr_tz cookie; the server only accepts names from the zone database). Pages show UTC
  // until the next request carries it.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone) &&
        ("; " + document.cookie + ";").indexOf("; dr_tz=" + zone + ";") === -1) {
      document.cookie = "dr_tz=" + zone + "; path=/; max-age=31536000; samesite=lax" +
        (location.protocol === "https:" ? "; secure" : "");
    }
  } catch (e) { /* no Intl time zone support: dates stay in UTC */ }
})();
