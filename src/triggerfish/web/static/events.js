// The events page: the newest events that pass the filters, newest first, from
// GET /api/v1/events, then followed live (tf.stream) with the same job and type filters; the
// text filter hides the rows shown without the text. Pause holds new events back.
"use strict";

(() => {
  const form = document.getElementById("event-filters");
  if (!form) return;
  const rows = document.getElementById("event-rows");
  const note = document.getElementById("event-note");
  const pauseButton = document.getElementById("event-pause");
  const SHOWN = +form.dataset.shown || 500;
  let source = null, generation = 0, paused = false, held = [];

  function filters() {
    const f = new FormData(form);
    return {
      job: String(f.get("job") || "").trim(),
      type: String(f.get("type") || ""),
      q: String(f.get("q") || "").trim(),
    };
  }

  function query(values) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(values)) {
      if (v !== undefined && v !== null && v !== "") params.set(k, v);
    }
    return params.toString();
  }

  function clock(t) {
    return new Date(t * 1000).toLocaleTimeString([], { hour12: false });
  }

  function row(e) {
    const data = e.data && Object.keys(e.data).length ? JSON.stringify(e.data) : "";
    const item = e.work != null ? e.work : (e.subid != null ? `.${e.subid}` : "");
    const tr = tf.el("tr", { "data-seq": e.seq, "data-type": e.type, "data-job": e.job },
      tf.el("td", {}, e.seq),
      tf.el("td", { title: new Date(e.time * 1000).toISOString() }, clock(e.time)),
      tf.el("td", {}, e.type),
      tf.el("td", {}, tf.el("span", { class: `status ${e.name}` }, e.name)),
      tf.el("td", {}, e.job != null ? tf.el("a", { href: `/jobs/${e.job}` }, e.job) : ""),
      tf.el("td", {}, item),
      tf.el("td", {}, e.host || ""),
      tf.el("td", { class: "data", title: data }, data.length > 200 ? `${data.slice(0, 199)}…` : data));
    tr.dataset.text = `${tr.textContent} ${data}`.toLowerCase();
    return tr;
  }

  function matches(tr, q) {
    return !q || tr.dataset.text.includes(q);
  }

  // Show events (oldest first, as the API gives them) on top of the table, newest first.
  function add(events, fresh) {
    const q = filters().q.toLowerCase();
    const frag = document.createDocumentFragment();
    for (let i = events.length - 1; i >= 0 && frag.childNodes.length < SHOWN; i--) {
      const tr = row(events[i]);
      tr.hidden = !matches(tr, q);
      if (fresh) tr.classList.add("fresh");
      frag.append(tr);
    }
    rows.prepend(frag);
    while (rows.rows.length > SHOWN) rows.lastElementChild.remove();
    tell();
  }

  function applyText() {
    const q = filters().q.toLowerCase();
    for (const tr of rows.rows) tr.hidden = !matches(tr, q);
    syncUrl();
    tell();
  }

  function tell() {
    const visible = [...rows.rows].filter((tr) => !tr.hidden).length;
    const shown = visible === rows.rows.length ? `${visible} events` : `${visible} of ${rows.rows.length} events`;
    note.textContent = paused ? `${shown}; paused, ${held.length} new held back` : shown;
  }

  function syncUrl() {
    const f = filters();
    history.replaceState(null, "", `/events${query(f) ? "?" : ""}${query(f)}`);
  }

  // The newest events that pass the job and type filters (up to SHOWN), read backwards from
  // the head, and the seq to follow the log from: the head read first (nothing between the
  // two is missed, and an event at the head is not shown twice).
  async function firstView(f) {
    const { head } = await tf.api("GET", "/api/v1/events?limit=1");
    const page = await tf.api("GET", `/api/v1/events?${query({ before: head + 1, limit: SHOWN, job: f.job, type: f.type })}`);
    return { events: page.events, after: head };
  }

  function take(events) {
    if (!paused) { add(events, true); return; }
    held = held.concat(events).slice(-SHOWN);
    tell();
  }

  async function start() {
    const gen = ++generation;
    if (source) { source.close(); source = null; }
    rows.replaceChildren();
    held = [];
    syncUrl();
    form.dataset.state = "loading";
    note.textContent = "loading…";
    const f = filters();
    try {
      const { events, after } = await firstView(f);
      if (gen !== generation) return;
      add(events, false);
      source = tf.stream({ job: f.job, type: f.type, after }, (batch) => {
        if (gen === generation) take(batch);
      });
      form.dataset.state = "live"; // the first view is in: what comes now is new
    } catch (err) {
      if (gen !== generation) return;
      note.textContent = "";
      tf.flash(`events: ${err.message}`, "error");
    }
  }

  function togglePause() {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
    if (!paused && held.length) { add(held, true); held = []; }
    tell();
  }

  form.addEventListener("submit", (ev) => { ev.preventDefault(); start(); });
  form.elements.job.addEventListener("change", start);
  form.elements.type.addEventListener("change", start);
  form.elements.q.addEventListener("input", applyText);
  pauseButton.addEventListener("click", togglePause);
  start();
})();
