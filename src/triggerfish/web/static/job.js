// A job's page: the frame grid (elements up to 1,000 items, a canvas above), an item's logs,
// the events, and the parts of the page fetched again when the event stream says the job
// changed. Uses tf (app.js).
"use strict";

(() => {
  const main = document.querySelector("main[data-job-id]");
  if (!main) return;
  const jobId = +main.dataset.jobId;
  const SMALL = 1000;  // items drawn as elements; more: on a canvas
  const TERMINAL = new Set(["complete", "failed", "killed"]);
  const WORK_EVENT = { pending: "pending", blocked: "blocked", waiting: "waiting",
    running: "running", complete: "complete", failed: "failed", killed: "killed",
    suspended: "suspended", retry: "retrying" };
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ the grid
  const grid = { names: [], codes: null, legend: [], index: new Map(), seq: 0, total: 0,
    counts: {}, cells: null, canvas: null, cell: 0, cols: 0, colours: [] };

  function expand(names) {  // [first, count, step] runs and strings → one name per item
    const out = [];
    for (const n of names) {
      if (typeof n === "string") { out.push(n); continue; }
      const [first, count, step] = n;
      for (let i = 0; i < count; i++) out.push(String(first + i * step));
    }
    return out;
  }

  async function loadGrid() {
    if (!$("grid")) {  // no agenda: nothing to draw
      if (window.tfGridDrawn === undefined) window.tfGridDrawn = performance.now();
      return;
    }
    const data = await tf.api("GET", `/api/v1/jobs/${jobId}/statuses`);
    grid.names = expand(data.names);
    grid.legend = data.legend;
    grid.total = data.total;
    grid.seq = data.seq;
    grid.codes = new Uint8Array(grid.total);
    for (let i = 0; i < grid.total; i++) grid.codes[i] = data.codes.charCodeAt(i) - 48;
    grid.index = new Map(grid.names.map((n, i) => [n, i]));
    const style = getComputedStyle(document.documentElement);
    grid.colours = grid.legend.map((st) => style.getPropertyValue(`--st-${st}`).trim() || "#999");
    draw();
    if (window.tfGridDrawn === undefined) window.tfGridDrawn = performance.now();
  }

  function draw() {
    const box = $("grid");
    box.replaceChildren();
    grid.cells = grid.canvas = null;
    if (grid.total <= SMALL) drawCells(box); else drawCanvas(box);
    showCounts();
  }

  function drawCells(box) {
    const frag = document.createDocumentFragment();
    grid.cells = grid.names.map((name, i) => {
      const st = grid.legend[grid.codes[i]];
      const cell = tf.el("span", { class: "cell", "data-item": name, "data-status": st,
        title: `${name}: ${st}` });
      frag.append(cell);
      return cell;
    });
    box.append(frag);
  }

  function drawCanvas(box) {
    const width = Math.max(200, box.clientWidth - 14);
    grid.cell = Math.max(2, Math.min(12, Math.floor(Math.sqrt((width * 400) / grid.total))));
    grid.cols = Math.max(1, Math.floor(width / grid.cell));
    const rows = Math.ceil(grid.total / grid.cols);
    const canvas = tf.el("canvas", { width: grid.cols * grid.cell, height: rows * grid.cell,
      "data-items": grid.total });
    box.append(canvas);
    grid.canvas = canvas;
    const ctx = canvas.getContext("2d");
    const gap = grid.cell > 4 ? 1 : 0;
    for (let code = 0; code < grid.legend.length; code++) {  // one fill colour at a time
      ctx.fillStyle = grid.colours[code];
      for (let i = 0; i < grid.total; i++) {
        if (grid.codes[i] !== code) continue;
        ctx.fillRect((i % grid.cols) * grid.cell, Math.floor(i / grid.cols) * grid.cell,
          grid.cell - gap, grid.cell - gap);
      }
    }
    canvas.addEventListener("mousemove", (ev) => hover(itemAt(ev)));
    canvas.addEventListener("mouseleave", () => hover(-1));
    canvas.addEventListener("click", (ev) => { const i = itemAt(ev); if (i >= 0) openItem(grid.names[i]); });
  }

  function itemAt(ev) {
    const r = grid.canvas.getBoundingClientRect();
    const col = Math.floor((ev.clientX - r.left) / grid.cell);
    const row = Math.floor((ev.clientY - r.top) / grid.cell);
    const i = row * grid.cols + col;
    return col >= 0 && col < grid.cols && i >= 0 && i < grid.total ? i : -1;
  }

  function hover(i) {
    $("grid-hover").textContent = i < 0 ? "" : `item ${grid.names[i]}: ${grid.legend[grid.codes[i]]}`;
  }

  function paint(i) {  // one item again, after its status changed
    const st = grid.legend[grid.codes[i]];
    if (grid.cells) {
      grid.cells[i].dataset.status = st;
      grid.cells[i].title = `${grid.names[i]}: ${st}`;
    } else if (grid.canvas) {
      const ctx = grid.canvas.getContext("2d");
      const gap = grid.cell > 4 ? 1 : 0;
      ctx.fillStyle = grid.colours[grid.codes[i]];
      ctx.fillRect((i % grid.cols) * grid.cell, Math.floor(i / grid.cols) * grid.cell,
        grid.cell - gap, grid.cell - gap);
    }
  }

  function showCounts() {
    const counts = new Array(grid.legend.length).fill(0);
    for (let i = 0; i < grid.total; i++) counts[grid.codes[i]]++;
    const parts = [tf.el("strong", { class: "total" }, `${grid.total} items`), " "];
    grid.legend.forEach((st, code) => {
      if (!counts[code]) return;
      parts.push(tf.el("span", { class: "count", "data-status": st,
        style: `--swatch: var(--st-${st})` }, `${st} ${counts[code]}`));
    });
    $("grid-count").replaceChildren(...parts);
  }

  const recount = tf.throttle(showCounts, 250);

  function setItem(name, status) {
    const i = grid.index.get(name);
    const code = grid.legend.indexOf(status);
    if (i === undefined || code < 0 || grid.codes[i] === code) return;
    grid.codes[i] = code;
    paint(i);
    recount();
  }

  window.addEventListener("resize", tf.throttle(() => { if (grid.canvas) draw(); }, 300));

  $("grid")?.addEventListener("click", (ev) => {
    const cell = ev.target.closest("[data-item]");
    if (cell) openItem(cell.dataset.item);
  });

  // ------------------------------------------------------------------ an item and its logs
  let following = 0;  // the follow loop that is current (a newer click ends the older)

  // What the panel shows: an agenda item (by name) or, for a job without agenda, an instance.
  function itemTarget(name) {
    const base = `/api/v1/jobs/${jobId}/work/${encodeURIComponent(name)}`;
    return { kind: "Item", name, log: `${base}/log`, info: () => tf.api("GET", base) };
  }

  function subjobTarget(subid) {
    const info = async () => {
      const job = await tf.api("GET", `/api/v1/jobs/${jobId}?agenda=false`);
      const s = job.subjobs.find((x) => x.subid === subid) || {};
      return { ...s, subid, exit_code: null };
    };
    return { kind: "Instance", name: `${jobId}.${subid}`, log: `/api/v1/jobs/${jobId}/subjobs/${subid}/log`, info };
  }

  async function readLog(target, stream, offset) {
    const resp = await fetch(`${target.log}?stream=${stream}&offset=${offset}`, { credentials: "same-origin" });
    if (resp.status === 404) return { text: "", offset, started: false };
    if (!resp.ok) throw new Error(`${resp.status} ${resp.statusText}`);
    const next = +(resp.headers.get("X-Triggerfish-Log-Offset") || offset);
    return { text: await resp.text(), offset: next, started: true };
  }

  const stamp = (t) => (t ? new Date(t * 1000).toISOString().slice(0, 19).replace("T", " ") : "");

  function showInfo(w) {
    const rows = [["status", w.status], ["host", w.host || ""], ["instance", w.subid ?? ""],
      ["retries", w.retry ?? 0], ["exit code", w.exit_code ?? ""],
      ["started", stamp(w.timestart)], ["completed", stamp(w.timecomplete)]];
    for (const [k, v] of [["package", w.package], ["result", w.resultpackage]]) {
      if (v && Object.keys(v).length) rows.push([k, JSON.stringify(v)]);  // (Qube's packages)
    }
    $("item-info").replaceChildren(...rows.flatMap(([k, v]) =>
      [tf.el("dt", {}, k), tf.el("dd", { "data-field": k }, v)]));
    $("item").dataset.status = w.status;
  }

  function showAttempts(text) {  // the "=== attempt T on HOST at TIME ===" lines of the log
    const list = $("item-attempts");
    for (const m of text.matchAll(/^=== attempt (\S+) on (\S+) at ([^=]+) ===$/gm)) {
      list.append(tf.el("li", { "data-attempt": m[1] }, `${m[3].trim()} on ${m[2]} (attempt ${m[1]})`));
    }
  }

  function append(stream, text) {
    const pre = $(`log-${stream}`);
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(text);
    if (pre.textContent.length > 2_000_000) pre.textContent = pre.textContent.slice(-1_000_000);
    if (stick) pre.scrollTop = pre.scrollHeight;
  }

  // One look at the target: its info and what its logs gained; true once it has ended and
  // nothing more came.
  async function readOnce(target, offsets, mine) {
    const w = await target.info();
    if (mine !== following) return true;
    showInfo(w);
    let got = 0;
    for (const stream of ["stdout", "stderr"]) {
      const page = await readLog(target, stream, offsets[stream]);
      if (mine !== following) return true;
      $(`log-${stream}-state`).textContent = page.started ? "" : "(not started)";
      offsets[stream] = page.offset;
      got += page.text.length;
      if (page.text) append(stream, page.text);
      if (stream === "stdout") showAttempts(page.text);
    }
    return TERMINAL.has(w.status) && !got;
  }

  async function show(target) {
    const mine = ++following;
    $("item").hidden = false;
    $("item-kind").textContent = target.kind;
    $("item-name").textContent = target.name;
    for (const id of ["log-stdout", "log-stderr", "item-attempts"]) $(id).replaceChildren();
    document.querySelectorAll(".cell.open").forEach((c) => c.classList.remove("open"));
    grid.cells?.[grid.index.get(target.name)]?.classList.add("open");
    const offsets = { stdout: 0, stderr: 0 };
    for (;;) {
      try {
        if (await readOnce(target, offsets, mine)) break;
      } catch (err) {
        tf.flash(`${target.kind} ${target.name}: ${err.message}`, "error");
        return;
      }
      await new Promise((r) => setTimeout(r, 2000));  // following a running one
      if (mine !== following) return;
    }
    if (mine === following) $("log-stdout-state").textContent = $("log-stderr-state").textContent = "(ended)";
  }
  const openItem = (name) => show(itemTarget(name));

  $("part-subjobs").addEventListener("click", (ev) => {
    const row = ev.target.closest("tr.pick[data-subid]");
    if (row) show(subjobTarget(+row.dataset.subid));
  });
  $("item-close").addEventListener("click", () => { following++; $("item").hidden = true; });

  // ------------------------------------------------------------------ parts of the page
  async function refresh(part) {
    try {
      const html = await tf.html(`/jobs/${jobId}/part/${part}`);
      $(`part-${part}`).innerHTML = html;
      if (part === "fields") {
        const head = $("part-fields").querySelector(".jobhead");
        if (head) main.dataset.status = head.dataset.status;
      }
    } catch (err) {
      tf.flash(`refreshing ${part}: ${err.message}`, "error");
    }
  }
  const refreshFields = tf.throttle(() => { refresh("fields"); refresh("subjobs"); refresh("graph"); }, 1000);
  const refreshCallbacks = tf.throttle(() => refresh("callbacks"), 1000);
  const reloadGrid = tf.throttle(() => loadGrid().catch(() => {}), 2000);

  // ------------------------------------------------------------------ events
  function eventRow(e) {
    const t = new Date(e.time * 1000).toISOString().slice(0, 19).replace("T", " ");
    const data = e.data && Object.keys(e.data).length ? JSON.stringify(e.data) : "";
    return tf.el("tr", { "data-seq": e.seq }, tf.el("td", {}, e.seq), tf.el("td", {}, t),
      tf.el("td", {}, `${e.name}-${e.type}`), tf.el("td", {}, e.subid ?? ""),
      tf.el("td", {}, e.work ?? ""), tf.el("td", {}, e.host ?? ""),
      tf.el("td", { class: "data" }, data));
  }

  function addEvents(list) {
    const body = document.querySelector("#events tbody");
    const newest = +(body.firstElementChild?.dataset.seq || 0);
    const rows = list.filter((e) => e.seq > newest).reverse().map(eventRow);
    body.prepend(...rows);
    while (body.children.length > 500) body.lastElementChild.remove();
  }

  function onBatch(events) {
    let job = false, callbacks = false;
    for (const e of events) {
      if (e.type === "work" && e.seq > grid.seq && WORK_EVENT[e.name]) setItem(e.work, WORK_EVENT[e.name]);
      else if (e.type === "job" || e.type === "subjob" || e.type === "host") job = true;
      else if (e.type === "callback") callbacks = true;
      if (e.type === "job" && e.name !== "done" && e.seq > grid.seq) reloadGrid();  // items may change quietly
    }
    if (job) refreshFields();
    if (callbacks) {  // a run ends in an event of its own, without the job: look again soon
      refreshCallbacks();
      setTimeout(refreshCallbacks, 1500);
    }
    addEvents(events);
  }

  // ------------------------------------------------------------------ controls
  const prio = $("priority");
  prio?.addEventListener("input", () => {
    $("set-priority").dataset.body = JSON.stringify({ fields: { priority: +prio.value } });
  });
  document.addEventListener("tf:done", refreshFields);

  loadGrid()
    .catch((err) => { $("grid-count").textContent = `items: ${err.message}`; })
    .finally(() => tf.stream({ job: jobId, after: main.dataset.seq }, onBatch));
})();
