// Progressive enhancement only: every page works without this file.
// Keyboard: Alt+H goes home (accesskey), Alt+Q signs out; pages add their own keys.
document.addEventListener("DOMContentLoaded", () => {
  const auto = document.querySelector("[autofocus]");
  if (auto) auto.focus();
});
// A file picker that loads a CSV into its textarea (the form still posts text).
document.addEventListener("change", (e) => {
  const input = e.target;
  if (!(input instanceof HTMLInputElement) || !input.dataset.fills || !input.files || !input.files[0]) return;
  input.files[0].text().then((text) => { const t = document.getElementById(input.dataset.fills); if (t) t.value = text; });
});
