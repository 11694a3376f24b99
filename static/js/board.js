// Drag a board card to another column to move its task. The move is posted like the
// card's own "Move to" form; a move the rules forbid puts the card back where it was and
// shows the reason on it.
document.addEventListener("DOMContentLoaded", () => {
  const board = document.getElementById("board");
  if (!board || typeof Sortable === "undefined") return;

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

  board.querySelectorAll(".board-cards").forEach((list) => {
    if (!list.querySelector("[data-move-url]") && !board.querySelector("[data-move-url]")) return;
    Sortable.create(list, {
      group: "board",
      draggable: "li.card[data-move-url]",
      filter: "select, button, a, input, label",
      preventOnFilter: false,
      animation: 0,
      // Mouse and touch events rather than native drag and drop: the same on every browser,
      // and a drag can be driven like any pointer.
      forceFallback: true,
      onEnd: move,
    });
  });
});
