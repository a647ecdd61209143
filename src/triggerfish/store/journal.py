"""The intake journal: tasks the server has accepted that the engine may not have committed yet.

A task added through the tasks API is answered once its line is in this journal (one
``write`` to a file opened for appending), before the engine's commit; the engine then adds it,
in journal order, and records in that same commit the number (``seq``) of the last line it
applied (the ``intake_seq`` counter). A supervisor that dies in between finds the lines after
that number here when it starts, and adds them then, with the job ids it had answered: an
accepted task is never lost, and never added twice.

What a line survives is what a commit of the SQLite store survives with ``synchronous=NORMAL``:
the supervisor being killed, not the machine losing power before the kernel has written it out.

The journal is a directory of segments, each named by the ``seq`` of its first line; the one
written to is closed and a new one begun at :data:`SEGMENT_BYTES`. A segment goes once the
engine has committed all of its lines. The engine's thread reads the journal (after a commit
that failed, to add again what it threw away) while the server's thread writes it: the list of
segments is guarded by a lock, and a segment deleted under the reader was committed already.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triggerfish.errors import StoreError
from triggerfish.store.jsontext import dumpb

logger = logging.getLogger(__name__)

SEGMENT_BYTES = 4 << 20  # a new segment after this many bytes
KEEP_BYTES = 64 << 10  # the segment written to is begun again (once committed) after this many


@dataclass(frozen=True)
class Entry:
    """One accepted task: its place in the journal, its job id, its owner and its job dict."""

    seq: int
    job_id: int
    user: str
    job: dict[str, Any]

    def line(self) -> bytes:
        """The line: JSON as the store writes it (integers beyond 64 bits included)."""
        body = {"seq": self.seq, "id": self.job_id, "user": self.user, "job": self.job}
        return dumpb(body) + b"\n"


def _entry(line: bytes) -> Entry | None:
    try:  # (json, not orjson: orjson reads an integer beyond 64 bits as a float)
        raw = json.loads(line)
        return Entry(int(raw["seq"]), int(raw["id"]), str(raw["user"]), dict(raw["job"]))
    except (ValueError, KeyError, TypeError):  # (json.JSONDecodeError is a ValueError)
        return None


@dataclass
class _Segment:
    first: int  # the seq its name gives (its first line's, or the next one's if empty)
    path: Path
    last: int  # the seq of its last line (first - 1 while empty)


class Journal:
    """The journal in ``directory`` (created, mode 0700: the lines hold the tasks' params)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"intake journal: cannot create {directory} ({exc})") from None
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self.last_seq = 0  # the last line written (or found)
        self.max_job_id = 0  # the highest job id of its lines
        for path in sorted(directory.glob("*.log")):
            try:
                first = int(path.stem)
            except ValueError:
                continue
            seg = _Segment(first, path, first - 1)
            for e in self._read(seg):
                seg.last = e.seq
                self.max_job_id = max(self.max_job_id, e.job_id)
            if seg.last < seg.first:  # empty: nothing to keep (its name may be reused)
                path.unlink(missing_ok=True)
                continue
            self.last_seq = max(self.last_seq, seg.last)
            self._segments.append(seg)
        self._fd = -1
        self._size = 0
        self._begin(self.last_seq + 1)

    # ------------------------------------------------------------------ writing (one thread)

    def _begin(self, first: int) -> None:
        path = self.dir / f"{first:015d}.log"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise StoreError(f"intake journal: cannot open {path} ({exc})") from None
        with self._lock:
            self._segments.append(_Segment(first, path, first - 1))
        self._fd, self._size = fd, 0

    def append(self, entry: Entry) -> None:
        """Write one line; raises OSError if it could not (the task is then not accepted)."""
        self.append_many([entry])

    def append_many(self, entries: list[Entry]) -> None:
        """Write consecutive lines in one ``write`` (all of them, or none if the process is
        killed: a write to a file is not cut short by a signal); raises OSError if it could
        not."""
        for i, entry in enumerate(entries):
            if entry.seq != self.last_seq + 1 + i:
                raise ValueError(f"intake journal: seq {entry.seq} after {self.last_seq + i}")
        lines = b"".join(e.line() for e in entries)
        data = memoryview(lines)
        try:
            while data:
                n = os.write(self._fd, data)
                data = data[n:]
        except OSError:
            self._cut_back()
            raise
        self._size += len(lines)
        last = entries[-1]
        self.last_seq = last.seq
        self.max_job_id = max(self.max_job_id, *(e.job_id for e in entries))
        self._segments[-1].last = last.seq
        if self._size >= SEGMENT_BYTES:
            self._rotate()

    def _cut_back(self) -> None:
        """A write that failed part of the way (a full disk): what it wrote goes, so that the
        next line does not run on from a piece of this one; if it cannot, the next lines go
        to a new segment."""
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            # (no new segment either: the next write fails, EBADF, and adds wait for commits)
            with contextlib.suppress(StoreError):
                self._rotate()

    def resume_after(self, seq: int) -> None:
        """The next line is ``seq + 1`` at the least: the engine has applied up to ``seq``
        (a journal deleted by hand is behind it)."""
        if seq > self.last_seq:
            self.last_seq = seq
            self._rotate()

    def _rotate(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self._begin(self.last_seq + 1)

    def forget_through(self, seq: int) -> None:
        """The engine has committed every line up to ``seq``: delete the segments it covers
        (the one written to is begun again once it holds :data:`KEEP_BYTES`)."""
        active = self._segments[-1]
        if active.last <= seq and active.last >= active.first and self._size >= KEEP_BYTES:
            self._rotate()
        with self._lock:
            done = [s for s in self._segments[:-1] if s.last <= seq]
            if not done:
                return
            self._segments = [s for s in self._segments if s not in done]
        for s in done:
            try:
                s.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:  # it stays; its lines are skipped at the next start
                logger.warning("intake journal: cannot delete %s (%s)", s.path, exc,
                               extra={"action": "intake.journal"})  # fmt: skip

    def close(self, committed: int | None = None) -> None:
        """Stop writing; with ``committed`` (the engine's last line applied) at or past the
        last line, delete the segments too: nothing is left to add."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if committed is not None and committed >= self.last_seq:
            with self._lock:
                done, self._segments = self._segments, []
            for s in done:
                s.path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ reading (any thread)

    def entries_after(self, seq: int) -> list[Entry]:
        """The lines after ``seq``, in order."""
        with self._lock:
            segments = [s for s in self._segments if s.last > seq]
        out: list[Entry] = []
        for s in segments:
            out.extend(e for e in self._read(s) if e.seq > seq)
        return out

    @staticmethod
    def _read(seg: _Segment) -> list[Entry]:
        try:
            data = seg.path.read_bytes()
        except FileNotFoundError:  # deleted under us: all of it was committed
            return []
        lines = data.split(b"\n")
        lines.pop()  # after the last newline: nothing, or a line being written (not answered)
        out: list[Entry] = []
        for n, line in enumerate(lines):
            e = _entry(line)
            if e is None:  # not one of ours
                logger.warning("intake journal: %s line %d is not an entry; skipped", seg.path,
                               n + 1, extra={"action": "intake.journal"})  # fmt: skip
                continue
            out.append(e)
        return out
