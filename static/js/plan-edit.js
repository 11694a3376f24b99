// The plan page's toolbar, beyond what htmx does: its menus close on a click outside them
// or on Escape, and the Generate menu closes once its run is queued, so the run's progress
// below is not covered. (The menus are <details>: they open and close without this script
// too.) Dragging features, sub-features and task rows is static/js/reorder.js.
(function () {
  function closeMenus(except) {
    document.querySelectorAll(".plan-toolbar details.menu[open]").forEach((menu) => {
      if (menu !== except) menu.open = false;
    });
  }

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
