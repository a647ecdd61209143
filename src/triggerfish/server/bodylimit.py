"""The request body limit (``--max-body``): 413 before a big body is read into memory.

Installed outermost (ahead of the token check and the fast path), so that it holds for every
route. A ``content-length`` over the limit is answered at once, without reading the body (the
server discards what the client still sends); a body without a length (chunked) is counted as
it is received, and the read that crosses the limit fails with :class:`TooLarge`; whatever
the app answers then, the client gets the 413.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triggerfish.errors import TooLarge
from triggerfish.server.fastpath import error_body

JSON = b"application/json"


def too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"body: the request body is over this supervisor's limit of {limit} bytes (its --max-body)",
        field="body",
    )


def declared_length(scope: Scope) -> int | None:
    """The request's ``content-length``; None when it has none (or one that is not a number,
    which the server refuses before the app sees it)."""
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """ASGI middleware: request bodies of at most ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        length = declared_length(scope)
        if length is not None and length > limit:
            await answer_too_large(send, limit)
            return
        if length is not None:  # the server delivers no more than it says
            await self.app(scope, receive, send)
            return
        seen = 0
        over = started = False

        async def counted() -> Message:
            nonlocal seen, over
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    over = True
                    raise too_large(limit)
            return msg

        async def watched(msg: Message) -> None:
            nonlocal started
            if over:  # whatever the route made of the failed read (FastAPI: a 400): a 413
                if not started and msg["type"] == "http.response.start":
                    started = True
                    await answer_too_large(send, limit)
                return
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, watched)
        except TooLarge:
            if started:
                raise
            await answer_too_large(send, limit)


async def answer_too_large(send: Send, limit: int) -> None:
    body = error_body(too_large(limit))
    headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
