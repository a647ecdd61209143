"""Batches the output of attempts into log chunks for the supervisor.

Output is buffered per attempt and stream. A buffer is sent ``interval`` seconds after its first
unsent text arrived, or at once when it holds ``max_chars``; while a send is in flight, what
arrives meanwhile goes in the next one. :meth:`LogSink.flush` sends everything of an attempt
and waits for it, so that a report can follow its output. An attempt that prints nothing costs
nothing: no timer, no request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from triggerfish.worker import worklog
from triggerfish.worker.process import Stream

logger = logging.getLogger(__name__)

PostLog = Callable[[str, Stream, str], Awaitable[None]]
"""Sends ``(token, stream, text)``; handles its own retries and never raises."""

STREAMS: tuple[Stream, Stream] = ("stdout", "stderr")


@dataclass
class _Buffer:
    parts: list[str] = field(default_factory=list)
    size: int = 0
    dropped: int = 0
    timer: asyncio.TimerHandle | None = None
    sender: asyncio.Task[None] | None = None

    def take(self, limit: int) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[triggerfish: {self.dropped} characters of output dropped]\n"
            self.dropped = 0
        head, rest = text[:limit], text[limit:]
        self.parts = [rest] if rest else []
        self.size = len(rest)
        return head


class LogSink:
    def __init__(
        self,
        post: PostLog,
        *,
        interval: float = 0.3,
        max_chars: int = 64 * 1024,
        max_buffer: int = 16 * 1024 * 1024,
    ) -> None:
        self._post = post
        self.interval = interval
        self.max_chars = max_chars
        self.max_buffer = max_buffer
        self._buffers: dict[tuple[str, Stream], _Buffer] = {}

    def write(self, token: str, stream: Stream, text: str) -> None:
        """Queue output of an attempt (an :data:`OutputSink`); never blocks."""
        if not text:
            return
        key = (token, stream)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = _Buffer()
        if buf.size >= self.max_buffer:
            buf.dropped += len(text)  # the supervisor has been away for a long while
            return
        buf.parts.append(text)
        buf.size += len(text)
        if buf.sender is not None:
            return  # the sender loops until the buffer is empty
        if buf.size >= self.max_chars:
            self._start_sender(key, buf)
        elif buf.timer is None:
            loop = asyncio.get_running_loop()
            buf.timer = loop.call_later(self.interval, self._start_sender, key, buf)

    def _start_sender(self, key: tuple[str, Stream], buf: _Buffer) -> asyncio.Task[None]:
        if buf.timer is not None:
            buf.timer.cancel()
            buf.timer = None
        if buf.sender is None:
            buf.sender = asyncio.get_running_loop().create_task(self._send(key, buf))
        return buf.sender

    async def _send(self, key: tuple[str, Stream], buf: _Buffer) -> None:
        token, stream = key
        try:
            while buf.size or buf.dropped:
                text = buf.take(self.max_chars)
                try:
                    await self._post(token, stream, text)
                except Exception:
                    logger.exception(
                        "sending output of %s failed; it is dropped",
                        token,
                        extra={"action": "log_send", **worklog.fields(token)},
                    )
        finally:
            buf.sender = None

    def pending(self, token: str) -> bool:
        """Whether output of ``token`` is buffered or being sent."""
        buffers = self._buffers
        return (token, "stdout") in buffers or (token, "stderr") in buffers

    async def flush(self, token: str) -> None:
        """Send all output of ``token`` and wait until it has gone; then forget the attempt."""
        senders: list[asyncio.Task[None]] = []
        for stream in STREAMS:
            buf = self._buffers.get((token, stream))
            if buf is None:
                continue
            if buf.sender is not None or buf.size or buf.dropped:
                senders.append(self._start_sender((token, stream), buf))
            elif buf.timer is not None:
                buf.timer.cancel()
        if senders:
            await asyncio.gather(*senders)
        for stream in STREAMS:
            buf = self._buffers.get((token, stream))
            if buf is not None and buf.sender is None and not buf.size:
                del self._buffers[(token, stream)]

    def discard(self, token: str) -> None:
        """Forget buffered output of ``token`` (its attempt was voided)."""
        for stream in STREAMS:
            buf = self._buffers.pop((token, stream), None)
            if buf is not None:
                if buf.timer is not None:
                    buf.timer.cancel()
                if buf.sender is not None:
                    buf.sender.cancel()

    async def aclose(self) -> None:
        """Stop all timers and sends; unsent output is dropped."""
        senders = []
        for buf in self._buffers.values():
            if buf.timer is not None:
                buf.timer.cancel()
            if buf.sender is not None:
                buf.sender.cancel()
                senders.append(buf.sender)
        self._buffers.clear()
        await asyncio.gather(*senders, return_exceptions=True)
