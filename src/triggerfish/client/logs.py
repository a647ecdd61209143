"""Reading the output of an item a page at a time, and following it while it runs.

The log routes answer a page of text from a byte offset with three headers: the item's status
(``X-Triggerfish-Status``), where the next read starts (``X-Triggerfish-Log-Offset``) and the
log's size (``X-Triggerfish-Log-Size``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triggerfish.errors import ClientError
from triggerfish.model.status import TERMINAL

if TYPE_CHECKING:
    from triggerfish.client.client import Client, Stream

UNREACHABLE = frozenset({502, 503, 504})  # (and no status at all): the supervisor is away
QUIET_OUTAGE = 10.0  # seconds a follower waits for the supervisor before it says so


@dataclass(frozen=True, slots=True)
class LogPage:
    text: str
    offset: int  # where this page starts (bytes)
    end: int  # where the next read starts
    size: int  # the log's size (bytes) when it was read
    status: str  # the item's status when it was read

    @property
    def more(self) -> bool:
        """Whether the log holds more than this page (read on from ``end``)."""
        return self.end < self.size

    @property
    def ended(self) -> bool:
        """Whether the item had ended (complete, failed, killed) when it was read: then the
        log holds all of its output."""
        return self.status in TERMINAL

    @classmethod
    def of(cls, text: str, headers: Mapping[str, str], offset: int) -> LogPage:
        end = int(headers.get("x-triggerfish-log-offset") or offset + len(text.encode()))
        size = int(headers.get("x-triggerfish-log-size") or end)
        return cls(text, offset, end, size, headers.get("x-triggerfish-status", ""))


def error_code(exc: ClientError) -> str:
    """The API's error code of ``exc`` (e.g. ``no_such_job``); "" if it has none."""
    return str(exc.details.get("code") or "")


def _away(exc: ClientError) -> bool:
    return exc.status is None or exc.status in UNREACHABLE


@dataclass(slots=True)
class _Round:
    ended: bool = True
    away: bool = False


class LogFollower:
    """Reads ``streams`` of item ``job:name`` (or instance ``job.subid``) as they grow, until
    the item has ended; rides through supervisor outages."""

    def __init__(
        self,
        client: Client,
        job: int,
        name: str | None,
        subid: int | None,
        streams: Sequence[Stream],
        *,
        poll: float = 0.5,
        note: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.client = client
        self.where = (job, name, subid)
        self.streams = list(streams)
        self.poll = poll
        self.note = note  # says (once) why nothing comes: not started yet, supervisor away
        self.offsets: dict[str, int] = dict.fromkeys(self.streams, 0)
        self._noted: set[str] = set()
        self._away_since: float | None = None

    def __iter__(self) -> Iterator[tuple[Stream, str]]:
        """``(stream, text)`` as output arrives; ends once the item has ended and everything
        it printed was read. Raises ClientError for no such job or item, and for an item
        that ended without ever running."""
        while True:
            rnd = _Round()
            for stream in self.streams:
                yield from self._read(stream, rnd)
                if rnd.away:
                    break
            if rnd.ended and not rnd.away:
                return
            self._outage(rnd.away)
            time.sleep(self.poll if not rnd.away else min(2.0, self.poll * 4))

    def _read(self, stream: Stream, rnd: _Round) -> Iterator[tuple[Stream, str]]:
        job, name, subid = self.where
        while True:
            try:
                page = self.client.log_page(job, name, subid, stream, self.offsets[stream])
            except ClientError as exc:
                if _away(exc):
                    rnd.away = True
                    return
                status = str(exc.details.get("details", {}).get("status", ""))
                if error_code(exc) != "not_started" or status in TERMINAL:
                    raise
                self._say_once("start", f"{exc.message}; waiting for it to start")
                rnd.ended = False
                return
            self.offsets[stream] = page.end
            if page.text:
                yield stream, page.text
            if not page.more:
                rnd.ended = rnd.ended and page.ended
                return

    def _outage(self, away: bool) -> None:
        if not away:
            self._away_since = None
            return
        now = time.monotonic()
        if self._away_since is None:
            self._away_since = now
        elif now - self._away_since >= QUIET_OUTAGE:
            self._say_once("away", f"the supervisor at {self.client.url} does not answer; "
                           "still following")  # fmt: skip

    def _say_once(self, key: str, message: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            self.note(message)
