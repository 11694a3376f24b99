// On a phone, tables are shown as stacked cards (app.css, `.table` under 640px): each cell
// is labelled with its column's heading. The labels are copied from the <th> cells here,
// on load and after every htmx swap, so every table gets them without per-template markup.
(function () {
  function label(root) {
    root.querySelectorAll("table.table").forEach((table) => {
      const headings = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
      if (!headings.length) return;
      table.querySelectorAll("tbody tr").forEach((row) => {
        let column = 0;
        Array.from(row.children).forEach((cell) => {
          if (!cell.hasAttribute("data-label") && headings[column]) {
            cell.setAttribute("data-label", headings[column]);
          }
          column += cell.colSpan || 1;
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", () => label(document));
  document.addEventListener("htmx:afterSettle", (event) => label(event.target.closest("main") || document));
})();
