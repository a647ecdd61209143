"""Live progress of jobs: rich bars of ended/total frames, woken by the event stream."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from triggerfish.cli.output import STATUS_STYLES
from triggerfish.client.client import Client
from triggerfish.client.errors import WaitTimeout
from triggerfish.client.watch import JobWatcher, frames

JSON = dict[str, Any]
MAX_BARS = 10  # more jobs than this share one bar
MIN_REFRESH = 0.2  # seconds between two status refreshes


def _status_markup(jobs: list[JSON]) -> str:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job["status"]] = counts.get(job["status"], 0) + 1
    if len(jobs) == 1:
        return f"[{STATUS_STYLES.get(jobs[0]['status'], '')}]{jobs[0]['status']}[/]"
    return ", ".join(f"[{STATUS_STYLES.get(s, '')}]{n} {s}[/]" for s, n in sorted(counts.items()))


class JobBars:
    """One bar per job, or one bar for all when there are many."""

    def __init__(self, progress: Progress, jobs: list[JSON]) -> None:
        self.progress = progress
        self.bars: dict[TaskID, list[int]] = {}
        if len(jobs) <= MAX_BARS:
            for job in jobs:
                name = job.get("name") or job.get("label") or ""
                task = progress.add_task(f"{job['id']} {name}", total=None, status="")
                self.bars[task] = [int(job["id"])]
        else:
            task = progress.add_task(f"{len(jobs)} jobs", total=None, status="")
            self.bars[task] = [int(j["id"]) for j in jobs]

    def update(self, summaries: dict[int, JSON]) -> None:
        for task, ids in self.bars.items():
            jobs = [summaries[i] for i in ids if i in summaries]
            if not jobs:
                continue
            done = total = 0
            for job in jobs:
                d, t = frames(job)
                done, total = done + d, total + t
            self.progress.update(task, completed=done, total=total, status=_status_markup(jobs))


def follow_jobs(
    client: Client, jobs: list[JSON], console: Console, timeout: float | None = None
) -> dict[int, JSON]:
    """Show progress bars until every job has ended or can no longer finish (its summary's
    ``stuck`` says why); return the final summaries. A supervisor restart is waited out
    (said once on ``console``).

    Raises WaitTimeout after ``timeout`` seconds.
    """
    watcher = JobWatcher(
        client, [int(j["id"]) for j in jobs],
        notify=lambda m: console.print(f"[yellow]{escape(m)}[/]", soft_wrap=True),
    )  # fmt: skip
    deadline = None if timeout is None else time.monotonic() + timeout
    watcher.deadline = deadline
    watcher.start()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bars = JobBars(progress, jobs)
        while True:
            refreshed = time.monotonic()
            bars.update(watcher.refresh())
            if watcher.settled:
                return watcher.jobs
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"jobs still not finished after {timeout:g} s", statuses=watcher.statuses()
                )
            watcher.wait_for_change(min(remaining, 1.0))
            time.sleep(max(0.0, MIN_REFRESH - (time.monotonic() - refreshed)))
