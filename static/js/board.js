// Drag a board card to another column to move its task. The move is posted like the
// card's own "Move to" form; a move the rules forbid puts the card back where it was and
// shows the reason on it. The board is swapped for a fresh one when something changed
// (static/js/live.js), so each new board is set up again; while a card is dragged it
// holds on to its board (data-live-hold), and asks for its columns as long as "Show more"
// made them.
(function () {
  function showError(card, text) {
    const error = card.querySelector(".card-error");
    if (!error) return;
    error.textContent = text;
    error.hidden = !text;
  }

  function putBack(card, from, oldIndex) {
    const reference = from.children[oldIndex] || null;
    from.insertBefore(card, reference);
  }

  async function move(event) {
    const card = event.item;
    const column = event.to;
    if (event.from === column) return;
    const url = card.dataset.moveUrl;
    const status = column.dataset.status;
    const body = new URLSearchParams({ status });
    const token = card.querySelector('input[name="csrfmiddlewaretoken"]');
    showError(card, "");
    card.classList.add("card--moving");
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        body,
        headers: { "HX-Request": "true", "X-CSRFToken": token ? token.value : "" },
        credentials: "same-origin",
      });
    } catch (error) {
      response = null;
    }
    card.classList.remove("card--moving");
    if (response && response.ok) {
      const html = await response.text();
      const template = document.createElement("template");
      template.innerHTML = html.trim();
      const fresh = template.content.firstElementChild;
      if (fresh) {
        card.replaceWith(fresh);
        if (window.htmx) window.htmx.process(fresh);
      }
      document.body.dispatchEvent(new CustomEvent("plan-changed"));
      return;
    }
    putBack(card, event.from, event.oldIndex);
    const reason = response ? await response.text() : "The server could not be reached.";
    showError(card, reason || "This move is not allowed.");
  }

  function setUp(board) {
    if (board.dataset.sortable || typeof Sortable === "undefined") return;
    board.dataset.sortable = "1";
    if (!board.querySelector("[data-move-url]")) return;
    board.querySelectorAll(".board-cards").forEach((list) => {
      Sortable.create(list, {
        // A column without a status to give (Verifying) lets cards out, never in.
        group: { name: "board", put: Boolean(list.dataset.status) },
        draggable: "li.card[data-move-url]",
        filter: "select, button, a, input, label",
        preventOnFilter: false,
        animation: 0,
        // Mouse and touch events rather than native drag and drop: the same on every
        // browser, and a drag can be driven like any pointer.
        forceFallback: true,
        onStart: () => board.setAttribute("data-live-hold", ""),
        onEnd: (event) => {
          board.removeAttribute("data-live-hold");
          // A change that came in during the drag was not swapped in: ask again.
          move(event).finally(() => document.body.dispatchEvent(new CustomEvent("live-changed")));
        },
      });
    });
  }

  function setUpIn(root) {
    const board = root.id === "board" ? root : root.querySelector && root.querySelector("#board");
    if (board) setUp(board);
  }

  // A live refresh of the board names the columns opened with "Show more" and how many
  // pages each shows, so they come back as long as they were rather than folded to
  // their first page.
  function shownColumns(board) {
    const perPage = Number(board.dataset.perPage || 20);
    const shown = [];
    board.querySelectorAll(".board-cards[id^='column-']").forEach((list) => {
      const pages = Math.ceil(list.querySelectorAll(":scope > li.card").length / perPage);
      if (pages > 1) shown.push(`${list.id.slice("column-".length)}:${pages}`);
    });
    return shown.join(",");
  }

  document.addEventListener("htmx:configRequest", (event) => {
    const board = event.detail.elt;
    if (!board || board.id !== "board") return;
    const shown = shownColumns(board);
    if (shown) event.detail.parameters.shown = shown;
  });

  document.addEventListener("DOMContentLoaded", () => setUpIn(document.body));
  document.addEventListener("htmx:load", (event) => setUpIn(event.target));
})();
