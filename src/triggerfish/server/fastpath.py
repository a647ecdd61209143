"""The hottest routes as plain ASGI, ahead of FastAPI's routing: adding a task, a worker's report
and pull.

One trivial task costs the supervisor two requests (the add, and the worker's report whose
answer carries the next task; with more workers than work, an idle worker's pull). Through
FastAPI's router (route matching over every route, dependency solving, the exception and
telemetry middlewares, response encoding) each of them costs several times what the route
itself does. ``FastPath`` sits right inside ``TokenAuth`` (so the request is authenticated) and
serves these when they are well formed and allowed: the same validation (the same pydantic
models, ``parse_jobs``), the same engine command, the same answer. Anything else — a body that
does not validate, a missing permission — is handed to FastAPI's route with the body replayed,
so errors keep their one format and wording.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

import pydantic
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triggerfish.api import schemas as s
from triggerfish.auth.permissions import SUBMIT, WORKER, Principal
from triggerfish.engine import submit as sub
from triggerfish.engine import workers
from triggerfish.errors import TriggerfishError
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.tasks import TaskRequest, uses_pickle
from triggerfish.model.text import suspect
from triggerfish.server.context import Ctx
from triggerfish.server.failures import dump_json, public_error
from triggerfish.server.longpoll import disconnected, long_pull

TASKS = "/api/v1/tasks"
WORKERS = "/api/v1/workers/"
REPORT = "/report"
PULL = "/pull"
JSON_HEADERS = [(b"content-type", b"application/json")]


M = TypeVar("M", bound=pydantic.BaseModel)


class Fallback(Exception):
    """Not for the fast path: FastAPI's route answers (with the same body)."""


class LongPoll:
    """A worker's pull, which may wait: ``run(lost)`` answers it, ``lost`` resolving when its
    connection breaks before the answer (``server.longpoll``)."""

    __slots__ = ("c", "host", "req")

    def __init__(self, c: Ctx, host: str, req: s.PullRequest) -> None:
        self.c = c
        self.host = host
        self.req = req

    async def run(self, lost: asyncio.Future[None] | None) -> tuple[int, bytes]:
        resp = await long_pull(self.c, self.host, self.req, lost)
        return 200, dump_json(resp)


Render = Callable[[Any], tuple[int, bytes]]
# (the engine command, its arguments, the answer made of its result, once committed); or, for
# a request that may wait (a worker's long poll), what answers it
Prepared = tuple[Callable[..., Any], tuple[Any, ...], Render] | LongPoll
Prepare = Callable[[Ctx, Principal, str, bytes], Prepared]


def add_task(c: Ctx, me: Principal, _path: str, body: bytes) -> Prepared:
    """``POST /api/v1/tasks``, as ``routes_tasks.add_task`` does it."""
    if not me.may(SUBMIT) or suspect(body):  # (text a store cannot hold: the app refuses it)
        raise Fallback
    try:
        req = TaskRequest.model_validate_json(body)
        job = req.checked_job()
        jobs = parse_jobs([job])
    except (pydantic.ValidationError, TriggerfishError):
        raise Fallback from None
    if not c.settings.allow_pickle and any(uses_pickle(j.prototype, j.spec.package) for j in jobs):
        raise Fallback
    for nj in jobs:
        nj.spec.user = me.name
    target = req.target

    def render(answer: s.SubmitResponse) -> tuple[int, bytes]:
        job = answer.jobs[0]
        return 201, _added(job.id, target, job.status)

    return sub.submit, (jobs, me.name), render


def _added(job_id: int, target: str, status: str) -> bytes:
    out = {"id": job_id, "target": target, "status": status}
    return json.dumps(out, separators=(",", ":")).encode()


def _worker_request(
    me: Principal, path: str, tail: str, body: bytes, model: type[M]
) -> tuple[str, M]:
    """The host named in ``/api/v1/workers/{host}{tail}`` and the body, for a worker token;
    anything else is the app's to answer."""
    host = path[len(WORKERS) : -len(tail)]
    if not me.may(WORKER) or not host or "/" in host:
        raise Fallback
    try:
        return host, model.model_validate_json(body)
    except pydantic.ValidationError:
        raise Fallback from None


def report(c: Ctx, me: Principal, path: str, body: bytes) -> Prepared:
    """``POST /api/v1/workers/{host}/report``, as ``routes_workers.report`` does it."""
    host, req = _worker_request(me, path, REPORT, body, s.ReportRequest)
    return workers.report, (host, req), _render_report


def _render_report(resp: s.ReportResponse) -> tuple[int, bytes]:
    return 200, dump_json(resp)


def pull(c: Ctx, me: Principal, path: str, body: bytes) -> Prepared:
    """``POST /api/v1/workers/{host}/pull``, as ``routes_workers.pull`` does it."""
    host, req = _worker_request(me, path, PULL, body, s.PullRequest)
    return LongPoll(c, host, req)


def route_of(method: str, path: str) -> Prepare | None:
    if method != "POST":
        return None
    if path == TASKS:
        return add_task
    if path.startswith(WORKERS):
        if path.endswith(REPORT):
            return report
        if path.endswith(PULL):
            return pull
    return None


# the route templates of the fast path's routes (the metrics' label, as FastAPI's routes say)
TEMPLATES: dict[Prepare, str] = {
    add_task: TASKS, report: WORKERS + "{host}" + REPORT, pull: WORKERS + "{host}" + PULL,
}  # fmt: skip


def template_of(method: str, path: str) -> str | None:
    """The route template of a fast-path request (``/api/v1/workers/{host}/pull``), or None."""
    prepare = route_of(method, path)
    if prepare is None:
        return None
    if prepare is not add_task:
        tail = REPORT if prepare is report else PULL
        host = path[len(WORKERS) : -len(tail)]
        if not host or "/" in host:
            return None
    return TEMPLATES[prepare]


def route(scope: Scope) -> Prepare | None:
    return route_of(scope["method"], scope["path"])


def error_body(exc: TriggerfishError) -> bytes:
    """What the app's TriggerfishError handler answers (starlette's JSONResponse encoding)."""
    return json.dumps(
        {"error": exc.to_dict()}, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode()


class Front:
    """The ASGI app the server runs: the fast path's requests go straight to the app's
    middleware stack (``TokenAuth`` → ``FastPath``), past ``FastAPI.__call__``, whose per-request
    telemetry probe (an OpenTelemetry tracer lookup and several environment reads) costs more
    than routing them; so these routes are not traced. Everything else, the lifespan
    included, goes to the FastAPI app as it is."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and route(scope) is not None:
            app = self.app
            scope["app"] = app
            stack = app.middleware_stack
            if stack is None:
                stack = app.middleware_stack = app.build_middleware_stack()
            await stack(scope, receive, send)
            return
        await self.app(scope, receive, send)


class FastPath:
    """ASGI middleware; install it inside ``TokenAuth`` (it reads the principal)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = route(scope) if scope["type"] == "http" else None
        principal = scope.get("state", {}).get("principal")
        if handler is None or principal is None:
            await self.app(scope, receive, send)
            return
        body, more = await _read(receive)
        if more is not None:  # the client went away before sending all of it
            return
        c: Ctx = scope["app"].state.ctx
        try:
            prepared = handler(c, principal, scope["path"], body)
            if isinstance(prepared, tuple):
                fn, args, render = prepared
                status, out = render(await c.engine.acall_here(fn, *args))
            else:
                status, out = await _long_poll(prepared, receive)
        except Fallback:
            await self.app(scope, _replay(body, receive), send)
            return
        except Exception as exc:  # refused (its status); a store's error or a bug, said so
            err = public_error(exc)
            status, out = err.http_status, error_body(err)
        await _answer(send, status, out)


async def _long_poll(poll: LongPoll, receive: Receive) -> tuple[int, bytes]:
    """Answer ``poll``, watching its connection (the body is read: the next message is the
    disconnect)."""
    lost = asyncio.ensure_future(disconnected(receive))
    try:
        return await poll.run(lost)
    finally:
        lost.cancel()


async def _read(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole request body; a disconnect message if the client left first."""
    chunks: list[bytes] = []
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return b"", msg
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers: list[tuple[bytes, bytes]] = [
        *JSON_HEADERS, (b"content-length", str(len(body)).encode()),
    ]  # fmt: skip
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
