"""Work logs: the stdout and stderr of every attempt, appended to files in the data dir.

Each agenda item (``work-NAME``) or instance (``subjob-S``) of a job has one file per stream;
every attempt starts its part with a line ``=== attempt TOKEN on HOST at TIME ===``. Reads go
by byte offset, a page at a time, so that a follower asks only for what is new and no single
request reads a whole big log into memory.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from triggerfish.errors import NoSuchItem, NoSuchJob, NotStarted
from triggerfish.model.status import TERMINAL
from triggerfish.store import reads

STREAMS = ("stdout", "stderr")
PAGE = 4 * 1024 * 1024  # the most bytes one read answers
# statuses an item has only once an attempt of it started
_RAN = frozenset({"running", "retrying", "failed", "suspended"})


@dataclass(frozen=True, slots=True)
class Page:
    """A piece of a log: ``text`` from byte ``offset`` up to ``end``; ``size`` bytes in all."""

    text: str
    offset: int
    end: int
    size: int


@dataclass(frozen=True, slots=True)
class Item:
    """What a log belongs to, as the store has it now."""

    label: str  # "12:5" or "12.0"
    status: str
    started: bool

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL


def _whole(data: bytes) -> int:
    """The length of ``data`` without an incomplete UTF-8 character at its end (a write that
    is still going on)."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        byte = data[n - back]
        if byte < 0x80:
            return n  # ASCII: complete
        if byte >= 0xC0:  # the lead byte of the last character
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return n if back >= need else n - back
    return n


class LogStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._headed: dict[str, None] = {}

    def path(self, job: int, unit: str, stream: str) -> Path:
        return self.root / str(job) / f"{quote(unit, safe='')}.{stream}"

    @staticmethod
    def unit(work: str | None, subid: int) -> str:
        return f"work-{work}" if work is not None else f"subjob-{subid}"

    def append(self, job: int, unit: str, stream: str, token: str, host: str, data: str) -> None:
        p = self.path(job, unit, stream)
        p.parent.mkdir(parents=True, exist_ok=True)
        key = f"{token}:{stream}"
        with p.open("a", encoding="utf-8") as fh:
            if key not in self._headed:
                self._headed[key] = None
                if len(self._headed) > 100_000:
                    self._headed.pop(next(iter(self._headed)))
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                fh.write(f"=== attempt {token} on {host} at {stamp} ===\n")
            fh.write(data)

    def remove_jobs(self, jobs: list[int]) -> None:
        """Delete the logs of ``jobs`` (retention)."""
        for job in jobs:
            shutil.rmtree(self.root / str(job), ignore_errors=True)

    def exists(self, job: int, unit: str) -> bool:
        """Whether anything was written to either stream of ``unit``."""
        return any(self.path(job, unit, s).exists() for s in STREAMS)

    def read(self, job: int, unit: str, stream: str, offset: int = 0, limit: int = PAGE) -> Page:
        """Up to ``limit`` bytes of the log from ``offset`` (an empty page if nothing was
        written to it)."""
        try:
            with self.path(job, unit, stream).open("rb") as fh:
                size = fh.seek(0, 2)
                start = min(offset, size)
                fh.seek(start)
                data = fh.read(max(0, limit))
        except FileNotFoundError:
            return Page("", 0, 0, 0)
        data = data[: _whole(data)]
        end = start + len(data)
        return Page(data.decode("utf-8", errors="replace"), start, end, max(size, end))


def _row_item(label: str, row: dict[str, Any]) -> Item:
    status = str(row["status"])
    started = row["timestart"] is not None or bool(row["retry"]) or status in _RAN
    return Item(label, status, started)


def find_item(engine: sa.Engine, job_id: int, work: str | None, subid: int | None) -> Item:
    """The agenda item ``job_id:work`` or the instance ``job_id.subid``; NoSuchJob or
    NoSuchItem if there is none."""
    if work is not None:
        row = reads.get_work(engine, job_id, work)
        if row is not None:
            return _row_item(f"{job_id}:{work}", row)
        if reads.get_job(engine, job_id, agenda=False) is None:
            raise NoSuchJob(f"no such job {job_id}", field="job")
        raise NoSuchItem(f"job {job_id} has no item {work}", field="item")
    job = reads.get_job(engine, job_id, agenda=False)
    if job is None:
        raise NoSuchJob(f"no such job {job_id}", field="job")
    for sub in job["subjobs"]:
        if sub["subid"] == subid:
            return _row_item(f"{job_id}.{subid}", sub)
    raise NoSuchItem(f"job {job_id} has no instance {subid}", field="instance")


def not_started(engine: sa.Engine, job_id: int, item: Item) -> NotStarted:
    """The error for the log of an item that has no output because it never ran."""
    why = f"it is {item.status}"
    job = reads.get_job(engine, job_id, agenda=False)
    if job is not None and job["status"] not in (item.status, "running"):
        why += f"; job {job_id} is {job['status']}"
    if item.ended:
        return NotStarted(f"item {item.label} never ran ({why})", status=item.status)
    return NotStarted(f"item {item.label} has not started yet ({why})", status=item.status)
