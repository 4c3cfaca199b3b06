// Progressive enhancement only: every page works without this file.
// Keyboard: Alt+H goes home (accesskey), Alt+Q signs out; pages add their own keys.
document.addEventListener("DOMContentLoaded", () => {
  const auto = document.querySelector("[autofocus]");
  if (auto) auto.focus();
});
