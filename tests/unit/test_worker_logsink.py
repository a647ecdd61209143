"""The log sink: batching by time and size, flush before report, nothing for silent frames."""

from __future__ import annotations

import asyncio
import time

from triggerfish.worker.logsink import LogSink
from triggerfish.worker.process import Stream


class Supervisor:
    """Stands in for the HTTP post: records what was sent and when."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.sent: list[tuple[str, Stream, str, float]] = []

    async def post(self, token: str, stream: Stream, text: str) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sent.append((token, stream, text, time.monotonic()))

    def text(self, token: str, stream: Stream) -> str:
        return "".join(t for tok, s, t, _ in self.sent if tok == token and s == stream)


def test_output_is_batched_for_the_interval() -> None:
    sup = Supervisor()

    async def go() -> float:
        sink = LogSink(sup.post, interval=0.2)
        began = time.monotonic()
        for i in range(100):
            sink.write("a", "stdout", f"{i}\n")
        await asyncio.sleep(0.4)
        return began

    began = asyncio.run(go())
    assert len(sup.sent) == 1
    assert sup.text("a", "stdout") == "".join(f"{i}\n" for i in range(100))
    assert 0.15 < sup.sent[0][3] - began < 0.35


def test_a_full_buffer_is_sent_at_once_in_pieces_of_max_chars() -> None:
    sup = Supervisor()

    async def go() -> None:
        sink = LogSink(sup.post, interval=10.0, max_chars=1000)
        sink.write("a", "stderr", "x" * 2500)
        await asyncio.sleep(0.05)

    asyncio.run(go())
    assert [len(t) for _, _, t, _ in sup.sent] == [1000, 1000, 500]


def test_flush_sends_everything_in_order_and_waits() -> None:
    sup = Supervisor(delay=0.05)

    async def go() -> None:
        sink = LogSink(sup.post, interval=10.0, max_chars=10)
        for i in range(30):
            sink.write("a", "stdout", f"<{i}>")
            if i % 7 == 0:
                await asyncio.sleep(0.01)
        sink.write("a", "stderr", "err")
        await sink.flush("a")
        assert not sink.pending("a")

    asyncio.run(go())
    assert sup.text("a", "stdout") == "".join(f"<{i}>" for i in range(30))
    assert sup.text("a", "stderr") == "err"


def test_silent_attempts_send_nothing_and_flush_at_once() -> None:
    sup = Supervisor()

    async def go() -> float:
        sink = LogSink(sup.post)
        began = time.monotonic()
        for i in range(1000):
            await sink.flush(f"t{i}")
        return time.monotonic() - began

    assert asyncio.run(go()) < 0.5
    assert sup.sent == []


def test_attempts_do_not_mix() -> None:
    sup = Supervisor()

    async def go() -> None:
        sink = LogSink(sup.post, interval=0.01)
        sink.write("a", "stdout", "A1")
        sink.write("b", "stdout", "B1")
        sink.write("a", "stdout", "A2")
        await asyncio.gather(sink.flush("a"), sink.flush("b"))

    asyncio.run(go())
    assert sup.text("a", "stdout") == "A1A2"
    assert sup.text("b", "stdout") == "B1"


def test_an_overfull_buffer_drops_and_says_so() -> None:
    sup = Supervisor()

    async def go() -> None:
        sink = LogSink(sup.post, interval=10.0, max_chars=1 << 20, max_buffer=10)
        sink.write("a", "stdout", "0123456789")
        sink.write("a", "stdout", "lost")
        await sink.flush("a")

    asyncio.run(go())
    text = sup.text("a", "stdout")
    assert text.startswith("0123456789")
    assert "4 characters of output dropped" in text
