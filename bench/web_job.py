"""How fast a job's page draws its frame grid for a big agenda.

    python bench/web_job.py [--items 100000] [--repeats 5] [--store sqlite|postgresql|both]

One supervisor without workers (the items stay pending) and one job of ``--items`` items,
submitted through the API as a user would (one frame range). Then, ``--repeats`` times each:

- ``GET /api/v1/jobs/{id}/statuses`` (every item's name and status, compact): the time from
  request to the last byte on localhost, and the answer's size;
- the job's page in a headless Chromium, logged in: from the navigation's start to
  ``window.tfGridDrawn`` (the page sets it when the grid is first drawn, on a canvas here).

Prints the medians (min-max). The goal of issue 16: the grid drawn within 1 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import Stat, database, machine, say, stores
from browser import launch
from playwright.sync_api import Browser, sync_playwright

from triggerfish.cli.local import LocalFarm


def statuses_times(farm: LocalFarm, job: int, repeats: int) -> tuple[Stat, int]:
    """Round trips of GET /statuses (seconds) and the answer's size in bytes."""
    headers = {"Authorization": f"Bearer {farm.token}"}
    times: list[float] = []
    size = 0
    with httpx.Client(base_url=farm.url, headers=headers, timeout=60) as http:
        http.get(f"/api/v1/jobs/{job}/statuses").raise_for_status()  # warm up
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = http.get(f"/api/v1/jobs/{job}/statuses")
            times.append(time.perf_counter() - t0)
            r.raise_for_status()
            size = len(r.content)
    return Stat(times), size


def page_times(browser: Browser, farm: LocalFarm, job: int, repeats: int) -> Stat:
    """Navigation start → window.tfGridDrawn (seconds), a fresh page load each time."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{farm.url}/login?next=/")
    page.fill("input[name=token]", farm.token or "")
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{farm.url}/")
    drawn: list[float] = []
    for _ in range(repeats + 1):  # the first load warms the caches up
        page.goto(f"{farm.url}/jobs/{job}")
        page.wait_for_function("window.tfGridDrawn !== undefined", timeout=60_000)
        drawn.append(page.evaluate("window.tfGridDrawn") / 1000)  # ms since navigation start
    context.close()
    return Stat(drawn[1:])


def run(store: str, items: int, repeats: int, browser: Browser) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(store) as db_url:
        farm = LocalFarm(workers=0, data_dir=tmp, db_url=db_url).start()
        try:
            with farm.client(timeout=600) as c:
                t0 = time.perf_counter()
                (job,) = c.submit({"name": "web-job-bench", "agenda": f"1-{items}",
                                   "package": {"cmdline": "true"}})  # fmt: skip
                say(f"[{store}] submitted {items} items in {time.perf_counter() - t0:.1f} s")
            api, size = statuses_times(farm, job["id"], repeats)
            grid = page_times(browser, farm, job["id"], repeats)
        finally:
            farm.stop()
    print(f"[{store}] {items} items")
    print(f"  GET /api/v1/jobs/{{id}}/statuses: {1000 * api.median:.0f} ms "
          f"({1000 * api.min:.0f}-{1000 * api.max:.0f}), {size / 1024:.0f} KiB")  # fmt: skip
    print(f"  page: navigation start → grid drawn: {1000 * grid.median:.0f} ms "
          f"({1000 * grid.min:.0f}-{1000 * grid.max:.0f}); goal 1000 ms")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = p.parse_args()
    m = machine()
    print(f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']}, Python {m['python']}")
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            for store in stores(args.store):
                run(store, args.items, args.repeats, browser)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
