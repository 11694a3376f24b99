// The plan page's small helpers for editors, beyond what htmx does:
// - drag a task row to reorder its group. The move is posted like the row's own up/down
//   buttons, with the row's new place (`index`) in its whole group; a refused move
//   reloads the plan so the page shows the order the server kept.
// - the toolbar's menus close on a click outside them or on Escape, and the Generate
//   menu closes once its run is queued, so the run's progress below is not covered.
//   (The menus are <details>: they open and close without this script too.)
(function () {
  function csrfToken(row) {
    const input = row.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  async function moved(event) {
    if (event.oldIndex === event.newIndex) return;
    const row = event.item;
    const cell = row.querySelector("[data-move-url]");
    if (!cell) return;
    const first = Number(event.to.dataset.firstIndex || 0);
    const body = new URLSearchParams({ index: String(first + event.newIndex) });
    let response = null;
    try {
      response = await fetch(cell.dataset.moveUrl, {
        method: "POST",
        body,
        headers: { "HX-Request": "true", "X-CSRFToken": csrfToken(row) },
        credentials: "same-origin",
      });
    } catch (error) {
      response = null;
    }
    if (response && response.ok) {
      document.body.dispatchEvent(new CustomEvent("plan-changed"));
    } else {
      window.location.reload();
    }
  }

  function makeSortable(root) {
    if (typeof Sortable === "undefined" || !root.querySelectorAll) return;
    root.querySelectorAll("tbody.task-rows").forEach((rows) => {
      if (rows.dataset.sortable) return;
      rows.dataset.sortable = "on";
      Sortable.create(rows, { handle: ".drag-handle", animation: 150, onEnd: moved });
    });
  }

  function closeMenus(except) {
    document.querySelectorAll(".plan-toolbar details.menu[open]").forEach((menu) => {
      if (menu !== except) menu.open = false;
    });
  }

  // Task groups arrive by htmx as their sub-feature opens.
  document.addEventListener("DOMContentLoaded", () => makeSortable(document));
  document.addEventListener("htmx:load", (event) => makeSortable(event.target));

  document.addEventListener("click", (event) => {
    closeMenus(event.target.closest ? event.target.closest(".plan-toolbar details.menu") : null);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeMenus(null);
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const menu = event.detail.elt.closest && event.detail.elt.closest("details#plan-generate");
    if (menu && event.detail.successful) menu.open = false;
  });
})();
