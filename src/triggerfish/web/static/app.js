// triggerfish's web page: the helpers every page uses. No framework, no build step, nothing
// fetched from anywhere but this supervisor.
"use strict";

const tf = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  // Call the API with the session cookie (and its CSRF token for a change); resolves to the
  // decoded JSON, rejects with an Error carrying the API's message.
  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (!resp.ok) {
      const err = new Error(data?.error?.message || `${resp.status} ${resp.statusText}`);
      err.status = resp.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  // A page fragment (HTML) from this supervisor.
  async function html(path) {
    const resp = await fetch(path, { credentials: "same-origin" });
    if (resp.status === 303 || resp.redirected) { location.reload(); }
    if (!resp.ok) throw new Error(`${resp.status} ${resp.statusText}`);
    return resp.text();
  }

  // Follow the event log: onBatch(list of events) for each message of
  // GET /api/v1/events/stream (query: {job, type, after}). Returns the EventSource.
  function stream(query, onBatch) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") params.set(k, v);
    }
    const es = new EventSource(`/api/v1/events/stream?${params}`);
    const live = document.getElementById("live");
    es.onopen = () => live && live.classList.add("on");
    es.onerror = () => live && live.classList.remove("on");
    es.onmessage = (msg) => onBatch(JSON.parse(msg.data));
    return es;
  }

  // Run fn at most once per `ms`, the last call winning (live updates come in bursts).
  function throttle(fn, ms) {
    let timer = null, again = false;
    return function run() {
      if (timer) { again = true; return; }
      fn();
      timer = setTimeout(() => { timer = null; if (again) { again = false; run(); } }, ms);
    };
  }

  function flash(text, kind) {
    const el = document.getElementById("flash");
    if (!el) return;
    el.textContent = text;
    el.className = kind || "info";
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { el.textContent = ""; el.className = ""; }, 6000);
  }

  // "3 s", "5 min", "2 h", "4 d" since a time in seconds since the epoch.
  function age(t) {
    const s = Math.max(0, Date.now() / 1000 - t);
    if (s < 60) return `${Math.floor(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h`;
    return `${Math.floor(s / 86400)} d`;
  }

  // An element: el("td", {class: "x", "data-job-id": 3}, "text", child, ...).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) {
      if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  // Buttons with data-action (and data-job, data-confirm; data-path, data-method and
  // data-body for another route) call the verb on the API.
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (!btn) return;
    ev.preventDefault();
    if (btn.dataset.confirm && !confirm(btn.dataset.confirm)) return;
    btn.disabled = true;
    try {
      const path = btn.dataset.path || `/api/v1/jobs/${btn.dataset.job}/${btn.dataset.action}`;
      await api(btn.dataset.method || "POST", path, btn.dataset.body ? JSON.parse(btn.dataset.body) : undefined);
      flash(`${btn.dataset.action}: done`, "ok");
      btn.dispatchEvent(new CustomEvent("tf:done", { bubbles: true }));
    } catch (err) {
      flash(`${btn.dataset.action}: ${err.message}`, "error");
    } finally {
      btn.disabled = false;
    }
  });

  // A box whose server-rendered content follows the farm: <div data-rows="/rows/…"
  // data-stream="host,work" data-throttle="1500" data-every="30000">. Its content is fetched
  // again when events of those types come (at most once per data-throttle ms), every
  // data-every ms (what changes without an event: heartbeats, a schedule's next run), and at
  // once after a button inside it did its work.
  function liveBox(box) {
    const name = box.id || box.dataset.rows;
    async function refresh() {
      try {
        box.innerHTML = await html(box.dataset.rows);
        ages();
      } catch (err) {
        flash(`${name}: ${err.message}`, "error");
      }
    }
    const soon = throttle(refresh, +box.dataset.throttle || 1500);
    box.addEventListener("tf:done", refresh);
    stream({ type: box.dataset.stream }, soon);
    if (box.dataset.every) setInterval(soon, +box.dataset.every);
  }
  document.addEventListener("DOMContentLoaded", () => {
    for (const box of document.querySelectorAll("[data-rows][data-stream]")) liveBox(box);
  });

  // Refresh the ages shown in <time data-age="epoch seconds"> every few seconds.
  function ages() {
    for (const el of document.querySelectorAll("[data-age]")) el.textContent = age(+el.dataset.age);
  }
  setInterval(ages, 5000);
  document.addEventListener("DOMContentLoaded", ages);

  return { api, html, stream, throttle, flash, age, ages, csrf, el };
})();
window.tf = tf;
