"""uvicorn's HTTP protocol with each response's writes sent as one.

uvicorn writes a response's head and its body with two ``transport.write`` calls, and uvloop
sends each at once: two segments, so the client (a worker waiting for its next task, an
application waiting for its add) wakes twice per answer and the supervisor makes two send
calls. Between processes on a virtual machine each wake-up is expensive. Here the transport
given to the protocol keeps what is written during one turn of the event loop and sends it
in one write at the end of that turn (``call_soon``), or at once past 64 KiB; closing or
ending the stream sends what is pending first. Flow control sees the pending bytes as
buffered.
"""

from __future__ import annotations

import asyncio
from typing import Any

try:  # uvicorn[standard]: httptools; else h11
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - depends on the installed extras
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]


FLUSH_AT = 64 * 1024  # pending bytes that go out at once (streamed answers keep flowing)


class CoalescingTransport:
    """A transport whose writes of one loop turn go out as one ``write``."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_AT:  # a big or streamed answer: on to the real transport now
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return int(self._transport.get_write_buffer_size()) + self._size

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else: the real transport's
        return getattr(self._transport, name)


class CoalescingHttpProtocol(_Base):
    """uvicorn's HTTP/1.1 protocol on a :class:`CoalescingTransport`."""

    def connection_made(self, transport: Any) -> None:  # uvloop's is no asyncio.Transport
        wrapped: Any = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(wrapped)
