"""The supervisor's coalescing transport, on a real socket pair and a real event loop."""

from __future__ import annotations

import asyncio
import socket

import pytest

from triggerfish.server.coalesce import FLUSH_AT, CoalescingTransport

WRITERS: list[asyncio.StreamWriter] = []  # alive while the test runs (else closed on GC)


async def _pair() -> tuple[CoalescingTransport, socket.socket]:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    _, writer = await asyncio.open_connection(sock=ours)
    WRITERS.append(writer)
    transport: asyncio.Transport = writer.transport  # type: ignore[assignment]
    return CoalescingTransport(transport, asyncio.get_running_loop()), theirs


async def _recv(peer: socket.socket, n: int) -> bytes:
    """``n`` bytes, or fewer at EOF (the loop keeps running meanwhile)."""
    got = b""
    while len(got) < n:
        try:
            chunk = peer.recv(n - len(got))
        except BlockingIOError:
            await asyncio.sleep(0.001)
            continue
        if not chunk:
            break
        got += chunk
    return got


def test_the_writes_of_one_turn_go_out_together() -> None:
    async def go() -> None:
        t, peer = await _pair()
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        with pytest.raises(BlockingIOError):  # nothing sent yet: the body is still to come
            peer.recv(1000)
        t.write(b"body")
        assert t.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
        await asyncio.sleep(0)  # the end of this turn: one write
        assert peer.recv(1000) == b"HTTP/1.1 200 OK\r\n\r\nbody"
        t.write(b"last")
        t.close()  # closing sends what is pending first
        assert await _recv(peer, 1000) == b"last"
        peer.close()

    asyncio.run(go())


def test_a_big_answer_is_not_held_back() -> None:
    async def go() -> None:
        t, peer = await _pair()
        t.write(b"x" * FLUSH_AT)  # goes to the real transport at once, not at the turn's end
        assert t._size == 0
        assert await _recv(peer, FLUSH_AT) == b"x" * FLUSH_AT
        t.close()
        peer.close()

    asyncio.run(go())
