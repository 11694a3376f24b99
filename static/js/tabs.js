// On a narrow screen the project tabs scroll sideways; bring the current one into view.
document.addEventListener("DOMContentLoaded", () => {
  const current = document.querySelector('.tabs [aria-current="page"]');
  if (current) {
    current.scrollIntoView({ block: "nearest", inline: "center" });
  }
});
