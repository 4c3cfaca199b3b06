// Progressive enhancement only: every page works without this file.
// Keyboard: Alt+H goes home (accesskey), Alt+Q signs out; station pages
// mark buttons and links with data-key="F2" etc., clicked on that key.
document.addEventListener("DOMContentLoaded", () => {
  const auto = document.querySelector("[autofocus]");
  if (auto) auto.focus();
  const sound = document.querySelector("[data-sound]");
  if (sound) beep(sound.dataset.sound);
});

// The scan box keeps focus: a click elsewhere or a stray Tab comes back to it
// (the count field is the one other place a picker may type).
document.addEventListener("focusout", () => {
  const box = document.querySelector("[data-scanbox]");
  if (!box) return;
  setTimeout(() => {
    const a = document.activeElement;
    if (!a || a === document.body || (a.tagName !== "INPUT" && a.tagName !== "SELECT")) box.focus();
  }, 0);
});

// Function keys (and Escape for the queue) click the element that names them.
document.addEventListener("keydown", (e) => {
  const key = e.key === "Escape" ? "F1" : e.key;
  if (!/^F\d{1,2}$/.test(key)) return;
  const target = document.querySelector(`[data-key="${key}"]:not([disabled])`);
  if (!target) return;
  e.preventDefault();
  target.click();
});

// Weights and serials end with Enter (a scanner sends one): move to the next
// empty one instead of submitting early; with none left, Enter submits.
document.addEventListener("keydown", (e) => {
  const t = e.target;
  if (e.key !== "Enter" || !(t instanceof HTMLInputElement) || !t.hasAttribute("data-advance")) return;
  const next = Array.from(document.querySelectorAll("[data-advance]")).find((i) => i !== t && i.value.trim() === "");
  if (next) { e.preventDefault(); next.focus(); }
});

// Choosing a box fills in its inside dimensions.
document.addEventListener("change", (e) => {
  const s = e.target;
  if (!(s instanceof HTMLSelectElement) || !s.dataset.boxFor) return;
  const o = s.selectedOptions[0], n = s.dataset.boxFor;
  for (const [k, d] of [["length", "l"], ["width", "w"], ["height", "h"]]) {
    const input = document.getElementById(`${k}_${n}`);
    if (input && o) input.value = o.dataset[d];
  }
});

// Distinct sounds: a low triple buzz for a mis-scan, one short high beep for a good one.
function beep(kind) {
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const tones = kind === "error" ? [[180, 0, .18], [180, .25, .18], [180, .5, .3]] : [[1320, 0, .08]];
    for (const [hz, at, len] of tones) {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.type = kind === "error" ? "square" : "sine";
      o.frequency.value = hz;
      g.gain.value = .25;
      o.connect(g).connect(ctx.destination);
      o.start(ctx.currentTime + at);
      o.stop(ctx.currentTime + at + len);
    }
  } catch (_) { /* no audio device: the banner still shows */ }
}

// A file picker that loads a CSV into its textarea (the form still posts text).
document.addEventListener("change", (e) => {
  const input = e.target;
  if (!(input instanceof HTMLInputElement) || !input.dataset.fills || !input.files || !input.files[0]) return;
  input.files[0].text().then((text) => { const t = document.getElementById(input.dataset.fills); if (t) t.value = text; });
});

// The dashboard: tiles and the event log follow the server's event stream.
// Without this file the page refreshes itself (a <noscript> meta refresh).
document.addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("event-log");
  if (!log || !window.EventSource) return;
  const live = document.querySelector("[data-live]");
  const source = new EventSource(log.dataset.stream);
  source.addEventListener("open", () => { if (live) live.textContent = "live"; });
  source.addEventListener("error", () => { if (live) live.textContent = "reconnecting…"; });
  source.addEventListener("log", (e) => {
    const ev = JSON.parse(e.data);
    if (log.querySelector(`tr[data-id="${ev.id}"]`)) return;
    const tr = document.createElement("tr");
    tr.className = `sev-${ev.severity}`;
    tr.dataset.id = ev.id;
    for (const text of [ev.at, ev.kind, ev.message]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    log.insertBefore(tr, log.firstChild);
    while (log.children.length > 200) log.removeChild(log.lastChild);
  });
  source.addEventListener("tiles", (e) => {
    for (const t of JSON.parse(e.data)) {
      const li = document.getElementById(`tile-${t.name}`);
      if (!li) continue;
      const value = li.querySelector('[data-f="value"]');
      const moved = value.textContent !== t.value;
      li.className = `tile level-${t.level} status-${t.status}${moved ? " changed" : ""}`;
      value.textContent = t.value;
      li.querySelector('[data-f="detail"]').textContent = t.detail;
      li.querySelector('[data-f="note"]').textContent = t.status === "fresh" ? "" : t.status + (t.note ? `: ${t.note}` : "");
      li.querySelector('[data-f="updated"]').textContent = t.updated ? `as of ${t.updated}` : "";
      const dl = li.querySelector('[data-f="rows"]');
      dl.replaceChildren();
      for (const [k, v] of t.rows) {
        const dt = document.createElement("dt"); dt.textContent = k;
        const dd = document.createElement("dd"); dd.textContent = v;
        dl.append(dt, dd);
      }
      setTimeout(() => li.classList.remove("changed"), 1200);
    }
  });
  source.addEventListener("signed-out", () => { source.close(); window.location.reload(); });
});
