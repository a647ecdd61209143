"""The fast path's routes answered by the HTTP protocol itself, without an ASGI cycle.

A trivial task costs the supervisor two requests: the add, and the worker's report whose
answer carries the next task (and, with more workers than work, an idle worker's pull).
Through uvicorn each of them builds an ASGI scope and a request-response cycle, starts an
asyncio task, passes ASGI messages through the middlewares and builds the answer's head from
ASGI headers; for these routes that costs more than the route's own work. Here uvicorn's HTTP
protocol (with its coalesced writes) is kept for every connection and every other request; a
request that is

- ``POST /api/v1/tasks``, ``POST /api/v1/workers/{host}/report`` or ``…/pull`` (a long poll:
  it waits in a task of its own),
- with a ``content-length`` body of at most ``MAX_BODY`` (no chunked body, no
  ``expect: 100-continue``, no upgrade),
- and not behind an unanswered request on the same connection (pipelining keeps its order),

is read by the protocol, checked by the same token check and :mod:`fastpath` code, handed to
the engine with :meth:`Engine.begin_here`, and answered from its callback (a pull: from its
task). Anything else, or
anything the fast path will not answer itself (a missing or unknown token, a body that does not
validate, a missing permission), becomes an ordinary uvicorn request-response cycle with the body
already read, so the app answers it with its one error format.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from triggerfish.auth.tokens import bearer
from triggerfish.server.coalesce import CoalescingHttpProtocol
from triggerfish.server.context import Ctx
from triggerfish.server.failures import public_error
from triggerfish.server.fastpath import (
    TEMPLATES,
    Fallback,
    LongPoll,
    Prepare,
    Render,
    error_body,
    route_of,
)

MAX_BODY = 256 * 1024  # bigger bodies (a task with large params) take the ordinary path
_STATUS: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    line = _STATUS.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        line = _STATUS[status] = f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")
    return line


def _as_is(answer: tuple[int, bytes]) -> tuple[int, bytes]:
    return answer


class _NoEvent:
    """uvicorn sets its cycle's message event when the connection is lost; a lane has none."""

    def set(self) -> None:
        pass


class Lane:
    """One request on the fast lane; it stands as the protocol's ``cycle`` while it is
    answered, so that a pipelined request waits behind it in uvicorn's own queue."""

    __slots__ = (
        "began", "body", "ctx", "disconnected", "keep_alive", "lost", "path", "prepare",
        "raw_path", "response_complete", "scope", "token",
    )  # fmt: skip
    message_event = _NoEvent()

    def __init__(
        self, ctx: Ctx, prepare: Prepare, scope: Any, path: str, raw_path: bytes,
        token: str | None, keep_alive: bool,
    ) -> None:  # fmt: skip
        self.ctx = ctx
        self.prepare = prepare
        self.scope = scope
        self.path = path
        self.raw_path = raw_path
        self.token = token
        self.keep_alive = keep_alive
        self.body: list[bytes] = []
        self.response_complete = False
        self.disconnected = False
        self.lost: asyncio.Future[None] | None = None  # a long poll's: its connection broke
        self.began = time.perf_counter()  # (its head is read: the metrics' start)


class FastLaneProtocol(CoalescingHttpProtocol):
    """uvicorn's HTTP/1.1 protocol (with coalesced writes) that answers the fast path's
    requests itself."""

    def _ctx(self) -> Ctx | None:
        app: Any = self.config.app
        return getattr(app.state, "ctx", None)

    def connection_lost(self, exc: Exception | None) -> None:
        lane = self.cycle
        super().connection_lost(exc)
        if isinstance(lane, Lane) and not lane.response_complete:
            lost = lane.lost
            if lost is not None and not lost.done():  # a worker's long poll: it may be dead
                lost.set_result(None)

    def on_headers_complete(self) -> None:
        lane = self._lane()
        if lane is None:
            super().on_headers_complete()
            return
        self.cycle = lane  # type: ignore[assignment]

    def _lane(self) -> Lane | None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return None  # behind an unanswered request: uvicorn keeps the order
        if self.expect_100_continue or self.parser.get_method() != b"POST":
            return None
        raw = self.url
        if b"?" in raw or b"%" in raw or not raw.startswith(b"/"):
            return None
        path = raw.decode("ascii", "replace")
        prepare = route_of("POST", path)
        if prepare is None or self.parser.should_upgrade():
            return None
        c = self._ctx()
        if c is None:  # not started yet
            return None
        length = -1
        token = None
        for name, value in self.headers:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return None
            elif name == b"transfer-encoding":
                return None
            elif name == b"authorization":
                token = bearer(value.decode("latin-1"))
        if not 0 <= length <= min(MAX_BODY, c.settings.max_body):
            return None  # (a body over --max-body: the app's BodyLimit answers 413)
        version = self.parser.get_http_version()
        keep_alive = version != "1.0" and self.parser.should_keep_alive()
        if version != "1.1":
            self.scope["http_version"] = version
        return Lane(c, prepare, self.scope, path, raw, token, keep_alive)

    def on_body(self, body: bytes) -> None:
        lane = self.cycle
        if isinstance(lane, Lane):
            lane.body.append(body)
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        lane = self.cycle
        if isinstance(lane, Lane):
            self._dispatch(lane)
            return
        super().on_message_complete()

    # ------------------------------------------------------------------ answering

    def _dispatch(self, lane: Lane) -> None:
        body = lane.body[0] if len(lane.body) == 1 else b"".join(lane.body)
        lane.body = []
        c = lane.ctx
        principal = c.auth.authenticate(lane.token) if lane.token else None
        if principal is None:  # TokenAuth answers 401
            self._to_app(lane, body)
            return
        try:
            prepared = lane.prepare(c, principal, lane.path, body)
        except Fallback:
            self._to_app(lane, body)
            return
        except Exception as exc:  # refused (its status), or a bug (500): not the parser's
            self._answered(lane, _as_is, None, exc)
            return
        if isinstance(prepared, LongPoll):  # it may wait: a task of its own
            lane.lost = self.loop.create_future()
            self._await(lane, prepared.run(lane.lost))
            return
        fn, args, render = prepared

        def then(value: Any, exc: BaseException | None) -> None:
            self._answered(lane, render, value, exc)

        c.engine.begin_here(fn, args, then)

    def _await(self, lane: Lane, answer: Coroutine[Any, Any, tuple[int, bytes]]) -> None:
        tasks: set[Any] = self.tasks

        def done(task: asyncio.Task[tuple[int, bytes]]) -> None:
            tasks.discard(task)
            if task.cancelled():  # the server is going down without waiting: no answer
                lane.response_complete = True
                return
            exc = task.exception()
            self._answered(lane, _as_is, None if exc else task.result(), exc)

        task = self.loop.create_task(answer)
        task.add_done_callback(done)
        tasks.add(task)  # uvicorn's shutdown waits for it (long polls end at once then)

    def _answered(self, lane: Lane, render: Render, value: Any, exc: BaseException | None) -> None:
        try:
            if exc is not None:
                raise exc
            status, out = render(value)
        except Exception as err:  # refused (its status); a store's error or a bug: said so
            failure = public_error(err)  # (as the app would answer it)
            status, out = failure.http_status, error_body(failure)
        self._answer(lane, status, out)

    def _answer(self, lane: Lane, status: int, body: bytes) -> None:
        lane.response_complete = True
        lane.ctx.meters.request(TEMPLATES[lane.prepare], "POST", status,
                                time.perf_counter() - lane.began)  # fmt: skip
        transport = self.transport
        if transport.is_closing():  # the client went away; what was committed stays
            return
        parts = [status_line(status)]
        for name, value in self.server_state.default_headers:
            parts += [name, b": ", value, b"\r\n"]
        parts += [b"content-type: application/json\r\ncontent-length: ",
                  str(len(body)).encode("ascii"), b"\r\n"]  # fmt: skip
        if not lane.keep_alive:
            parts.append(b"connection: close\r\n")
        parts += [b"\r\n", body]
        transport.write(b"".join(parts))
        if not lane.keep_alive:
            transport.close()
        self.on_response_complete()  # starts a pipelined request, or arms keep-alive

    def _to_app(self, lane: Lane, body: bytes) -> None:
        """The request as uvicorn would have run it, its body already read."""
        scope = lane.scope
        scope["method"] = "POST"
        scope["path"] = self.root_path + lane.path
        scope["raw_path"] = self.root_path.encode("ascii") + lane.raw_path
        scope["query_string"] = b""
        cycle = RequestResponseCycle(
            scope=scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=lane.keep_alive,
            on_response=self.on_response_complete,
        )
        cycle.body = bytearray(body)
        cycle.more_body = False
        cycle.message_event.set()
        if self.cycle is lane:  # type: ignore[comparison-overlap]
            self.cycle = cycle
        lane.response_complete = True  # the cycle answers now, in the lane's place
        start = getattr(self, "_start_asgi_task", None)  # newer uvicorn
        if start is not None:
            start(cycle, self.app)
            return
        task = self.loop.create_task(cycle.run_asgi(self.app))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)
