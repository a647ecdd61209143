// The jobs table (/): rows follow the job events (GET /api/v1/events/stream?type=job).
// What changed is fetched as rendered rows (GET /rows/jobs?ids=...), at most every 300 ms
// and one request at a time; the newest page also gets the jobs submitted since it loaded.
// The only periodic request: every 5 s, the running rows in view (their progress).
"use strict";

(() => {
  const table = document.getElementById("jobs");
  if (!table) return;
  const body = table.tBodies[0];
  const first = table.dataset.first === "1";
  const filters = table.dataset.filters || "";
  const size = +table.dataset.size || 50;
  const changed = new Set(); // ids of rows on the page to fetch again
  const added = new Set(); // ids of jobs submitted since (newest page only)
  let busy = false, again = false;

  const row = (id) => body.querySelector(`tr[data-job-id="${id}"]`);

  // Replace the rows asked for (removing the jobs that no longer exist) and put the new
  // ones that passed the filters on top, keeping one page of rows.
  function apply(html, asked) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    const got = new Map([...tpl.content.querySelectorAll("tr[data-job-id]")]
      .map((tr) => [+tr.dataset.jobId, tr]));
    for (const id of asked) {
      const old = row(id);
      if (!old) continue;
      if (got.has(id)) old.replaceWith(got.get(id)); else old.remove();
      got.delete(id);
    }
    const fresh = [...got.values()].filter((tr) => !row(tr.dataset.jobId));
    if (!fresh.length) return;
    body.prepend(...fresh);
    document.getElementById("no-jobs")?.remove();
    while (body.rows.length > size) body.lastElementChild.remove();
    const older = document.getElementById("older");
    if (older && body.rows.length >= size) {
      const last = body.lastElementChild.dataset.jobId;
      older.href = `/?${filters}${filters ? "&" : ""}before=${last}`;
      older.hidden = false;
    }
  }

  async function refresh() {
    if (busy) { again = true; return; }
    // of the new jobs (a big submission is thousands), the newest page's worth; with
    // filters more, since some will not pass them (the server takes 200 at most)
    const ids = [...changed];
    const news = [...added].sort((a, b) => b - a).slice(0, filters ? 200 : size);
    changed.clear(); added.clear();
    if (!ids.length && !news.length) return;
    busy = true;
    try {
      const q = new URLSearchParams(filters);
      if (ids.length) q.set("ids", ids.join(","));
      if (news.length) q.set("new", news.join(","));
      apply(await tf.html(`/rows/jobs?${q}`), ids);
    } catch (err) {
      tf.flash(`jobs: ${err.message}`, "error");
    } finally {
      busy = false;
      if (again) { again = false; later(); }
    }
  }
  const later = tf.throttle(refresh, 300);

  tf.stream({ type: "job" }, (events) => {
    for (const ev of events) {
      if (ev.job == null) continue;
      if (row(ev.job)) changed.add(ev.job);
      else if (first && ev.name === "submit") added.add(ev.job);
    }
    if (changed.size || added.size) later();
  });

  // Progress: the running rows the user can see, every 5 s, in one request.
  function inView(tr) {
    const r = tr.getBoundingClientRect();
    return r.bottom > 0 && r.top < window.innerHeight;
  }
  setInterval(() => {
    if (document.hidden) return;
    const running = [...body.querySelectorAll('tr[data-status="running"]')].filter(inView);
    for (const tr of running) changed.add(+tr.dataset.jobId);
    if (running.length) later();
  }, 5000);

})();
