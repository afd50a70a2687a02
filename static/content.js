// Drag and drop for the seller's content panel (#content): items within and across sections,
// and whole sections. The new order is posted to the panel's data-arrange-url, which answers
// with the fresh panel. Without JavaScript (or with a keyboard), the "Move up"/"Move down"
// forms do the same one step at a time.
(function () {
  "use strict";

  var dragged = null; // the <li data-item> or <div data-section-drag> being moved
  var before = null; // its place before the drag, to undo a refused order

  function panel() {
    return document.getElementById("content");
  }

  function announce(text) {
    var status = document.getElementById("content-status");
    if (status) status.textContent = text;
  }

  // Only the handle starts a drag, so text in the item's forms can still be selected.
  document.addEventListener("mousedown", function (event) {
    var handle = event.target.closest("#content .drag-handle");
    if (!handle) return;
    var target = handle.closest("[data-item]") || handle.closest("[data-section-drag]");
    if (target) target.setAttribute("draggable", "true");
  });

  document.addEventListener("mouseup", function () {
    var root = panel();
    if (!root || dragged) return;
    root.querySelectorAll("[draggable]").forEach(function (el) { el.removeAttribute("draggable"); });
  });

  document.addEventListener("dragstart", function (event) {
    var el = event.target;
    if (!el.closest || !el.closest("#content") || el.getAttribute("draggable") !== "true") return;
    dragged = el;
    before = { parent: el.parentNode, next: el.nextSibling };
    el.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", el.dataset.item || el.dataset.sectionDrag || "");
  });

  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    var root = panel();
    if (!root || !root.contains(event.target)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (dragged.dataset.item) {
      var list = event.target.closest("ul.sortable");
      if (!list) return;
      var over = event.target.closest("li[data-item]");
      if (over && over !== dragged) {
        var box = over.getBoundingClientRect();
        var after = event.clientY > box.top + box.height / 2;
        list.insertBefore(dragged, after ? over.nextSibling : over);
      } else if (!over) {
        var empty = list.querySelector("li.drop-here");
        list.insertBefore(dragged, empty || null);
      }
    } else {
      var group = event.target.closest("[data-section-drag]");
      if (!group || group === dragged) return;
      var rect = group.getBoundingClientRect();
      var below = event.clientY > rect.top + rect.height / 2;
      group.parentNode.insertBefore(dragged, below ? group.nextSibling : group);
    }
  });

  document.addEventListener("drop", function (event) {
    if (!dragged) return;
    event.preventDefault();
  });

  document.addEventListener("dragend", function () {
    if (!dragged) return;
    var el = dragged;
    dragged = null;
    el.classList.remove("dragging");
    el.removeAttribute("draggable");
    var moved = el.parentNode !== before.parent || el.nextSibling !== before.next;
    if (moved) save(el);
  });

  function order(root) {
    var sections = [];
    root.querySelectorAll("[data-section-drag]").forEach(function (group) {
      sections.push(group.dataset.sectionDrag);
    });
    var items = [];
    root.querySelectorAll("ul.sortable").forEach(function (list) {
      list.querySelectorAll("li[data-item]").forEach(function (li) {
        items.push(list.dataset.section + ":" + li.dataset.item);
      });
    });
    return { sections: sections.join(","), items: items.join(",") };
  }

  function save(el) {
    var root = panel();
    var body = new URLSearchParams(order(root));
    var undo = before;
    fetch(root.dataset.arrangeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": root.dataset.csrf, "HX-Request": "true" },
      body: body,
    }).then(function (response) {
      return response.text().then(function (html) {
        if (!response.ok) throw new Error(html);
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("#content");
        if (fresh) {
          root.replaceWith(fresh);
          if (window.htmx) window.htmx.process(fresh);
        }
        announce((fresh || root).dataset.saved || "");
      });
    }).catch(function () {
      undo.parent.insertBefore(el, undo.next);
      announce("");
      window.alert(document.body.dataset.errorMessage || "The new order could not be saved. Reload the page and try again.");
    });
  }
})();
