// Drag an item to reorder its list: the plan page's features, an opened feature's
// sub-features, a group's task rows, and the Requirements tab's rows. Each list says so
// with `data-reorder="<selector of its items>"` (and `data-first-index` when it shows a
// later page); each item carries `data-move-url` and a handle (`.drag-handle`, or the
// selector in the list's `data-reorder-handle`). The move is posted
// like the item's own up/down buttons (which stay the way without JavaScript or a mouse),
// with the item's new place (`index`) in its whole list. A refused or failed move puts the
// item back where it was and shows the reason above the list.
(function () {
  function csrfToken() {
    try {
      const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return headers["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function reasonBox(list) {
    // Where a reason can sit: before the table a row list belongs to, else the list.
    const anchor = list.closest("table") || list;
    let box = anchor.previousElementSibling;
    if (!box || !box.classList.contains("move-error")) {
      box = document.createElement("p");
      box.className = "move-error field-error";
      box.setAttribute("role", "alert");
      box.hidden = true;
      anchor.insertAdjacentElement("beforebegin", box);
    }
    return box;
  }

  function showReason(list, text) {
    const box = reasonBox(list);
    box.textContent = text;
    box.hidden = !text;
  }

  function putBack(list, item, oldIndex) {
    item.remove();
    list.insertBefore(item, list.children[oldIndex] || null);
  }

  async function reasonOf(response) {
    if (!response) return "The server could not be reached; nothing was moved.";
    const type = response.headers.get("Content-Type") || "";
    if (type.startsWith("text/plain")) {
      const text = (await response.text()).trim();
      if (text) return text;
    }
    if (response.status === 403) return "You may not change this plan.";
    if (response.status === 404) return "This item is gone: reload the page to see the plan as it is.";
    return `The move failed (${response.status}); nothing was moved.`;
  }

  async function moved(event) {
    const list = event.from;
    const item = event.item;
    if (event.oldDraggableIndex === event.newDraggableIndex) return;
    const first = Number(list.dataset.firstIndex || 0);
    const body = new URLSearchParams({ index: String(first + event.newDraggableIndex) });
    showReason(list, "");
    item.classList.add("reorder-moving");
    let response = null;
    try {
      response = await fetch(item.dataset.moveUrl, {
        method: "POST",
        body,
        headers: { "HX-Request": "true", "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
      });
    } catch (error) {
      response = null;
    }
    item.classList.remove("reorder-moving");
    if (response && response.ok) {
      document.body.dispatchEvent(new CustomEvent("plan-changed"));
      return;
    }
    putBack(list, item, event.oldIndex);
    showReason(list, await reasonOf(response));
  }

  function makeSortable(root) {
    if (typeof Sortable === "undefined" || !root.querySelectorAll) return;
    const lists = Array.from(root.querySelectorAll("[data-reorder]"));
    if (root.matches && root.matches("[data-reorder]")) lists.push(root);
    lists.forEach((list) => {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "on";
      Sortable.create(list, {
        draggable: list.dataset.reorder,
        // Lists nest (a feature holds sub-features, they hold task rows): each list's
        // handle is its own, so a drag starts in the list whose handle was taken.
        handle: list.dataset.reorderHandle || ".drag-handle",
        animation: 150,
        // Mouse and touch events rather than native drag and drop: the same on every
        // browser, and a drag can be driven like any pointer.
        forceFallback: true,
        onEnd: moved,
      });
    });
  }

  // A feature's or sub-feature's handle sits in its <summary>: taking it must not open
  // or close the item.
  document.addEventListener("click", (event) => {
    if (event.target.closest && event.target.closest("summary .drag-handle")) event.preventDefault();
  });

  // Sub-features and task groups arrive by htmx as their feature or sub-feature opens.
  document.addEventListener("DOMContentLoaded", () => makeSortable(document));
  document.addEventListener("htmx:load", (event) => makeSortable(event.target));
})();
