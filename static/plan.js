// Drag and drop for the seller's mutual action plan (#plan[data-reorder]): a task within its
// milestone or into another one. The move is posted to the task's data-move-url (the same route
// as the "Move up"/"Move down" and "Move to milestone" forms, which remain the keyboard and
// no-JavaScript way), which answers with the fresh plan. The same approach as static/content.js.
(function () {
  "use strict";
  if (window.dealroomPlanDnd) return; // loaded once per page, whatever swaps the plan
  window.dealroomPlanDnd = true;

  var dragged = null; // the <li data-task> being moved
  var before = null; // its place before the drag, to undo a refused move

  function panel() {
    var root = document.getElementById("plan");
    return root && root.dataset.reorder ? root : null;
  }

  // Only the handle starts a drag, so text in the task's forms can still be selected.
  document.addEventListener("mousedown", function (event) {
    var handle = event.target.closest && event.target.closest("#plan .drag-handle");
    if (!handle || !panel()) return;
    var task = handle.closest("li[data-task]");
    if (task) task.setAttribute("draggable", "true");
  });

  document.addEventListener("mouseup", function () {
    var root = panel();
    if (!root || dragged) return;
    root.querySelectorAll("li[draggable]").forEach(function (el) { el.removeAttribute("draggable"); });
  });

  document.addEventListener("dragstart", function (event) {
    var el = event.target;
    if (!el.closest || !el.closest("#plan") || el.getAttribute("draggable") !== "true") return;
    dragged = el;
    before = { parent: el.parentNode, next: el.nextSibling };
    el.classList.add("dragging");
    panel().classList.add("dragging-task");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", el.dataset.task || "");
  });

  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    var root = panel();
    if (!root || !root.contains(event.target)) return;
    var list = event.target.closest("ul.tasks[data-milestone]");
    if (!list) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    var over = event.target.closest("li[data-task]");
    if (over && over !== dragged && over.parentNode === list) {
      var box = over.getBoundingClientRect();
      var after = event.clientY > box.top + box.height / 2;
      list.insertBefore(dragged, after ? over.nextSibling : over);
    } else if (!over) {
      list.appendChild(dragged);
    }
  });

  document.addEventListener("drop", function (event) {
    if (dragged) event.preventDefault();
  });

  document.addEventListener("dragend", function () {
    if (!dragged) return;
    var el = dragged;
    dragged = null;
    el.classList.remove("dragging");
    el.removeAttribute("draggable");
    var root = panel();
    if (root) root.classList.remove("dragging-task");
    if (el.parentNode !== before.parent || el.nextSibling !== before.next) save(el);
  });

  function save(el) {
    var root = panel();
    var list = el.parentNode;
    var tasks = Array.prototype.filter.call(list.children, function (li) { return li.dataset.task; });
    var body = new URLSearchParams({
      milestone_id: list.dataset.milestone,
      position: String(tasks.indexOf(el) + 1),
    });
    var undo = before;
    fetch(el.dataset.moveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": root.dataset.csrf, "HX-Request": "true" },
      body: body,
    }).then(function (response) {
      return response.text().then(function (html) {
        if (!response.ok) throw new Error(html);
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("#plan");
        if (fresh) {
          root.replaceWith(fresh);
          if (window.htmx) window.htmx.process(fresh);
        }
        var status = document.getElementById("plan-status");
        if (status) status.textContent = (fresh || root).dataset.saved || "";
      });
    }).catch(function () {
      undo.parent.insertBefore(el, undo.next);
      window.alert(document.body.dataset.errorMessage || "The new order could not be saved. Reload the page and try again.");
    });
  }
})();
