// On a narrow screen the project tabs scroll sideways: centre the current one in the strip.
// Only the strip scrolls, never the page, so a link to an anchor keeps its place.
document.addEventListener("DOMContentLoaded", () => {
  const strip = document.querySelector("nav.tabs");
  const current = strip && strip.querySelector('[aria-current="page"]');
  if (current && strip.scrollWidth > strip.clientWidth) {
    strip.scrollLeft = current.offsetLeft - strip.offsetLeft - (strip.clientWidth - current.offsetWidth) / 2;
  }
});
