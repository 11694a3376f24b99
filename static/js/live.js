// Live parts of a page (the project header, the board, the plan's summary) ask the server
// again and again whether anything changed. Each remembers the ETag of its last answer
// and sends it as If-None-Match, so an unchanged page answers 304 with no body and
// nothing is swapped (the htmx-config meta tag in base.html says so): the browser's own
// cache would instead hand htmx the old body again as a 200, to be swapped for nothing.
//
// A change made in one browser tab ("plan-changed", from a move or a status change) is
// told to the project's other tabs, which then ask too: a page that is not polling,
// because nothing was active, still learns of it.
(function () {
  const etags = new Map();

  function key(elt) {
    return elt.id ? `${elt.id} ${elt.getAttribute("hx-get") || ""}` : null;
  }

  document.addEventListener("htmx:configRequest", (event) => {
    const elt = event.detail.elt;
    if (!elt.hasAttribute || !elt.hasAttribute("data-live")) return;
    const etag = etags.get(key(elt));
    if (etag) event.detail.headers["If-None-Match"] = etag;
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    const elt = event.detail.elt;
    if (!elt.hasAttribute || !elt.hasAttribute("data-live")) return;
    const xhr = event.detail.xhr;
    if (xhr.status === 304) {
      event.detail.shouldSwap = false;
      return;
    }
    // A card being dragged keeps its board: the next poll brings the change again.
    if (elt.hasAttribute("data-live-hold")) {
      event.detail.shouldSwap = false;
      return;
    }
    const etag = xhr.getResponseHeader("ETag");
    if (etag && xhr.status === 200) etags.set(key(elt), etag);
  });

  // Other tabs of the same dashboard: a change here asks their live parts to look again.
  if (typeof BroadcastChannel === "undefined") return;
  const channel = new BroadcastChannel("crewboard-plan-changed");
  let relaying = false;
  // Capture: board.js dispatches its event on the body without bubbling.
  document.addEventListener(
    "plan-changed",
    () => {
      if (!relaying) channel.postMessage({ path: window.location.pathname });
    },
    true,
  );
  channel.addEventListener("message", () => {
    relaying = true;
    try {
      document.body.dispatchEvent(new CustomEvent("plan-changed", { bubbles: true }));
    } finally {
      relaying = false;
    }
  });
})();
