"""LogFollower against a scripted API: it reads what is new, waits for an item to start, rides
through an outage, and stops only after a round in which every stream saw the item ended."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from triggerfish.client.client import Client
from triggerfish.client.logs import LogFollower
from triggerfish.errors import ClientError

Answer = Callable[[httpx.Request], httpx.Response]


def page(text: str, offset: int, status: str) -> httpx.Response:
    end = offset + len(text.encode())
    headers = {"X-Triggerfish-Status": status, "X-Triggerfish-Log-Offset": str(end),
               "X-Triggerfish-Log-Size": str(end)}  # fmt: skip
    return httpx.Response(200, text=text, headers=headers)


def not_started() -> httpx.Response:
    err = {"code": "not_started", "message": "item 3:1 has not started yet (it is pending)",
           "details": {"status": "pending"}}  # fmt: skip
    return httpx.Response(404, json={"error": err})


def refused(req: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=req)


def follow(script: list[Answer], streams: tuple[str, ...] = ("stdout", "stderr")) -> tuple[
    list[tuple[str, str]], list[str], list[tuple[str, int]]
]:  # fmt: skip
    asked: list[tuple[str, int]] = []

    def handle(req: httpx.Request) -> httpx.Response:
        stream = req.url.params["stream"]
        asked.append((stream, int(req.url.params.get("offset", 0))))
        return script.pop(0)(req)

    notes: list[str] = []
    with Client("http://tf.test", token="t", transport=httpx.MockTransport(handle)) as c:
        got = list(LogFollower(c, 3, "1", None, streams, poll=0, note=notes.append))  # type: ignore[arg-type]
    assert script == []  # every scripted answer was asked for, and no more
    return got, notes, asked


def test_reads_on_from_where_it_stopped_and_ends_after_a_round_all_ended() -> None:
    got, notes, asked = follow([
        lambda r: not_started(),
        lambda r: not_started(),
        lambda r: page("a\n", 0, "running"),
        lambda r: page("", 0, "running"),
        lambda r: page("b\n", 2, "running"),  # stdout still running...
        lambda r: page("e\n", 0, "complete"),  # ...stderr sees the end: one more round
        lambda r: page("c\n", 4, "complete"),
        lambda r: page("", 2, "complete"),
    ])  # fmt: skip
    assert got == [("stdout", "a\n"), ("stdout", "b\n"), ("stderr", "e\n"), ("stdout", "c\n")]
    assert notes == ["item 3:1 has not started yet (it is pending); waiting for it to start"]
    assert asked[-4:] == [("stdout", 2), ("stderr", 0), ("stdout", 4), ("stderr", 2)]


def test_rides_through_an_outage_quietly() -> None:
    got, notes, _ = follow([
        lambda r: page("a\n", 0, "running"),
        lambda r: httpx.Response(503, json={"error": {"code": "store", "message": "db down"}}),
        refused,
        lambda r: page("b\n", 2, "complete"),
    ], streams=("stdout",))  # fmt: skip
    assert got == [("stdout", "a\n"), ("stdout", "b\n")]
    assert notes == []


def test_no_such_item_and_never_ran_are_errors() -> None:

    gone = httpx.Response(
        404, json={"error": {"code": "no_such_item", "message": "job 3 has no item 1"}}
    )
    with pytest.raises(ClientError, match="has no item 1"):
        follow([lambda r: gone], streams=("stdout",))
    never = {"code": "not_started", "message": "item 3:1 never ran (it is killed)",
             "details": {"status": "killed"}}  # fmt: skip
    with pytest.raises(ClientError, match="never ran"):
        follow([lambda r: httpx.Response(404, json={"error": never})], streams=("stdout",))


def test_a_long_outage_is_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("triggerfish.client.logs.QUIET_OUTAGE", 0.0)

    got, notes, _ = follow([refused, refused, refused, lambda r: page("b\n", 0, "complete")],
                           streams=("stdout",))  # fmt: skip
    assert got == [("stdout", "b\n")]
    assert notes == ["the supervisor at http://tf.test does not answer; still following"]
