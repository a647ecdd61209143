// The tasks page: swap in the server-rendered tables again when job events come (a task is
// a job; throttled), and at once after a pause or resume button did its work.
"use strict";

(() => {
  const box = document.getElementById("tasks");
  if (!box) return;

  async function refresh() {
    try {
      box.innerHTML = await tf.html(box.dataset.rows);
    } catch (err) {
      tf.flash(`tasks: ${err.message}`, "error");
    }
  }

  const soon = tf.throttle(refresh, 2000);
  box.addEventListener("tf:done", refresh);
  tf.stream({ type: "job" }, soon);
  // a schedule's next run moves on with its timer, which writes no event of its own
  setInterval(soon, 30000);
})();
