"""The body limit middleware and the --max-body size option, in process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
import pytest

from triggerfish.cli.params import SizeType
from triggerfish.server.bodylimit import BodyLimit

Message = dict[str, Any]


async def reads_all(scope: Any, receive: Any, send: Any) -> None:
    """An app that reads the whole body, answering 400 when the read fails (as FastAPI
    does for a body it cannot parse), else 200 with the body's length."""
    size = 0
    try:
        while True:
            msg = await receive()
            size += len(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        status, body = 200, str(size).encode()
    except Exception:
        status, body = 400, b"parse error"
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def call(limit: int, parts: list[bytes], length: int | None) -> tuple[int, bytes, int]:
    """(status, body, how many body messages the app was given)."""
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    scope = {"type": "http", "method": "POST", "path": "/api/v1/jobs", "headers": headers}
    queue = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]
    given = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal given
        given += 1
        return queue.pop(0)

    async def send(msg: Message) -> None:
        sent.append(msg)

    asyncio.run(BodyLimit(reads_all, limit)(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return starts[0]["status"], body, given


def test_a_declared_length_over_the_limit_is_413_before_any_read() -> None:
    status, body, given = call(100, [b"x" * 101], 101)
    assert status == 413 and given == 0
    err = json.loads(body)["error"]
    assert err["code"] == "too_large" and err["field"] == "body" and "100 bytes" in err["message"]


def test_a_chunked_body_is_counted_and_413_whatever_the_app_made_of_it() -> None:
    status, body, given = call(100, [b"x" * 60, b"x" * 60, b"x" * 60], None)
    assert status == 413 and given == 2  # the read that crossed the limit was the last
    assert json.loads(body)["error"]["code"] == "too_large"


def test_bodies_within_the_limit_pass() -> None:
    assert call(100, [b"x" * 100], 100)[:2] == (200, b"100")
    assert call(100, [b"x" * 50, b"x" * 50], None)[:2] == (200, b"100")


@pytest.mark.parametrize(
    ("text", "size"),
    [("16M", 16 * 2**20), ("512K", 512 * 1024), ("1G", 2**30), ("1048576", 2**20),
     ("2MiB", 2 * 2**20), ("3mb", 3 * 2**20), (" 7 ", 7)],
)  # fmt: skip
def test_size_option_values(text: str, size: int) -> None:
    assert SizeType().convert(text, None, None) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "lots", "1T", "1.5M"])
def test_size_option_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(click.BadParameter):
        SizeType().convert(text, None, None)
