// The hosts page: swap in the server-rendered table again when host, instance or agenda
// item events come (throttled), and at once after a button of the page did its work.
"use strict";

(() => {
  const box = document.getElementById("hosts");
  if (!box) return;

  async function refresh() {
    try {
      box.innerHTML = await tf.html(box.dataset.rows);
      tf.ages();
    } catch (err) {
      tf.flash(`hosts: ${err.message}`, "error");
    }
  }

  const soon = tf.throttle(refresh, 1500);
  box.addEventListener("tf:done", refresh);
  tf.stream({ type: "host,subjob,work" }, soon);
  // heartbeats write no event: ages tick in the page (tf.ages), states are fetched now and then
  setInterval(soon, 30000);
})();
