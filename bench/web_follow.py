"""What a web page that follows the farm costs: frame throughput with and without it.

    python bench/web_follow.py [--frames 3000] [--rounds 4] [--workers 2] [--page /]

One LocalFarm (SQLite, 2 workers x 1 slot). Rounds alternate: a job of N frames of ``true``
with no browser attached, then the same with a headless Chromium logged in on ``--page``
(the jobs table by default), which follows the event stream and redraws what changes. Each
round measures frames per second from ``Client.submit`` to the end of ``Client.wait``. Prints
the median of each side and the loss (the issue asks for at most 5 %).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser import launch
from playwright.sync_api import sync_playwright

from triggerfish.cli.local import LocalFarm


def run_job(farm: LocalFarm, frames: int, cpus: int) -> float:
    with farm.client(timeout=600) as c:
        t0 = time.perf_counter()
        (job,) = c.submit({"name": "follow-bench", "cpus": cpus,
                           "package": {"cmdline": "true", "range": f"1-{frames}"}})  # fmt: skip
        c.wait(job["id"], timeout=600)
        return frames / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--page", default="/")
    args = p.parse_args()
    plain: list[float] = []
    followed: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        farm = LocalFarm(workers=args.workers, slots=1, data_dir=tmp).start()
        browser = launch(pw)
        try:
            run_job(farm, 200, args.workers)  # warm up
            for _ in range(args.rounds):
                plain.append(run_job(farm, args.frames, args.workers))
                page = browser.new_page()
                page.goto(f"{farm.url}/login?next={args.page}")
                page.fill("input[name=token]", farm.token or "")
                page.click("form.login button[type=submit]")
                page.wait_for_url(f"{farm.url}{args.page}")
                followed.append(run_job(farm, args.frames, args.workers))
                page.close()
        finally:
            browser.close()
            farm.stop()
    a, b = statistics.median(plain), statistics.median(followed)
    print(f"frames/s without a page: {a:.0f} (rounds {', '.join(f'{x:.0f}' for x in plain)})")
    print(f"frames/s with {args.page} following: {b:.0f} "
          f"(rounds {', '.join(f'{x:.0f}' for x in followed)})")  # fmt: skip
    print(f"loss: {100 * (a - b) / a:.1f} %")


if __name__ == "__main__":
    main()
