"""``triggerfish supervisor`` with counters, for bench/profile_throughput.py (not for users).

Runs the normal supervisor command line, with one pure-ASGI middleware around the app that
counts requests and their wall time per endpoint (and what the worker endpoints answered), a
SQLAlchemy listener that counts the statements run through SQLAlchemy, a count of the
statements the driver sends to the database (psycopg: its cursors' ``execute``, each row of
``executemany``, ``copy``; SQLite: ``set_trace_callback`` on every connection), a wrapper
around ``Store.flush`` that counts the rows of each kind of change it writes and times each
call (wall and thread CPU time: the writes and the commit), and a ``gc.callbacks`` timer of
the cyclic garbage collector. Two extra paths, answered by the middleware itself:

    GET  /bench/counts   → {"requests", "answers", "sql", "sent", "flush", "commit_s",
                            "gc",
                            "engine": {"batches", ...}}
    POST /bench/reset    → zero the counters (call just before submitting)
"""

from __future__ import annotations

import gc
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI

from triggerfish.cli.main import main
from triggerfish.server import app as server_app
from triggerfish.server import main as server_main
from triggerfish.server.fastpath import Front
from triggerfish.settings import ServerSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ROUTES = [
    (re.compile(r"^/api/v1/workers/[^/]+/(pull|report|log)$"), r"/api/v1/workers/{host}/\1"),
    (re.compile(r"^/api/v1/jobs/\d+/work/.+/log$"), "/api/v1/jobs/{id}/work/{name}/log"),
    (re.compile(r"^/api/v1/jobs/\d+/work/[^/]+$"), "/api/v1/jobs/{id}/work/{name}"),
    (re.compile(r"^/api/v1/jobs/\d+$"), "/api/v1/jobs/{id}"),
    (re.compile(r"^/api/v1/jobs/\d+/(\w+)$"), r"/api/v1/jobs/{id}/\1"),
]


def route(path: str) -> str:
    for pattern, repl in ROUTES:
        if pattern.match(path):
            return pattern.sub(repl, path)
    return path


class Counters:
    def __init__(self) -> None:
        self.requests: dict[str, list[float]] = {}
        # worker answers by content: "pull: assignments", "pull: cancel", "pull: empty", ...
        self.answers: dict[str, int] = {}
        self.sql = 0
        self.sent = 0  # statements the driver sent to the database
        self.flush: dict[str, int] = {}  # rows written by Store.flush, by kind of change
        self.commit_s: list[float] = []  # wall time of each Store.flush (write + commit)
        self.commit_cpu = 0.0  # CPU time of the engine thread in Store.flush, in all
        self.batches0 = 0
        self.commands0 = 0
        self.commits0 = 0
        self.gc: dict[int, list[float]] = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}


class Counting:
    """Counts requests per endpoint; serves /bench/counts and /bench/reset."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.c = Counters()
        self._listening = False
        self._gc_began = 0.0
        gc.callbacks.append(self._gc)

    @property
    def state(self) -> Any:  # (the app's context is found here)
        return self.app.state

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        """Time each collection of the cyclic garbage collector (any thread holds the GIL)."""
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            slot = self.c.gc[info["generation"]]
            slot[0] += 1
            slot[1] += time.perf_counter() - self._gc_began

    def _engine(self) -> Any:
        ctx = getattr(self.app.state, "ctx", None)
        return None if ctx is None else ctx.engine

    def _listen(self) -> None:
        ctx = getattr(self.app.state, "ctx", None)
        if self._listening or ctx is None:
            return

        def count(*_args: Any) -> None:
            self.c.sql += 1

        sa.event.listen(ctx.store.engine, "before_cursor_execute", count)
        self._count_sent(ctx.store)
        self._count_flush(ctx.store)
        self._listening = True

    def _count_sent(self, store: Any) -> None:
        if store.dialect == "postgresql":
            import psycopg

            c = self

            def wrap(name: str, rows: bool) -> None:
                orig = getattr(psycopg.Cursor, name)

                def counted(cur: Any, query: Any, params: Any = None, *a: Any, **k: Any) -> Any:
                    if rows:
                        params = list(params or ())
                        c.c.sent += len(params)
                    else:
                        c.c.sent += 1
                    return orig(cur, query, params, *a, **k)

                setattr(psycopg.Cursor, name, counted)

            wrap("execute", False)
            wrap("executemany", True)
            wrap("copy", False)
            return

        def trace(_sql: str) -> None:
            self.c.sent += 1

        def hook(dbapi_conn: Any, *_: Any) -> None:
            dbapi_conn.set_trace_callback(trace)

        sa.event.listen(store.engine, "connect", hook)
        sa.event.listen(store.engine, "checkout", hook)
        writer = store._conn  # the engine thread's connection, already checked out
        if writer is not None:
            hook(writer.connection.dbapi_connection)

    def _count_flush(self, store: Any) -> None:
        flush = store.flush

        def counted(ch: Any) -> None:
            for k, v in vars(ch).items():
                if v:
                    self.c.flush[k] = self.c.flush.get(k, 0) + len(v)
            began, cpu = time.perf_counter(), time.thread_time()
            flush(ch)
            self.c.commit_cpu += time.thread_time() - cpu
            self.c.commit_s.append(time.perf_counter() - began)

        store.flush = counted

    def snapshot(self) -> dict[str, Any]:
        eng = self._engine()
        batches = (eng.batches - self.c.batches0) if eng is not None else 0
        commands = (eng.commands - self.c.commands0) if eng is not None else 0
        commits = (getattr(eng, "commits", 0) - self.c.commits0) if eng is not None else 0
        events = eng.state.event_seq if eng is not None else 0
        return {
            "requests": {k: {"count": v[0], "seconds": v[1]} for k, v in self.c.requests.items()},
            "answers": dict(self.c.answers),
            "sql": self.c.sql,
            "sent": self.c.sent,
            "flush": dict(self.c.flush),
            "commit_s": list(self.c.commit_s),
            "commit_cpu": self.c.commit_cpu,
            "gc": {f"gen{g}": {"count": v[0], "seconds": v[1]} for g, v in self.c.gc.items()},
            "engine": {
                "batches": batches,
                "commands": commands,
                "commits": commits,
                "event_seq": events,
            },
        }

    async def _answer(self, send: Send, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _classify(self, kind: str, body: bytes) -> None:
        try:
            answer = json.loads(body)
        except ValueError:
            return
        if not isinstance(answer, dict):
            return
        parts = [k for k in ("assignments", "cancel") if answer.get(k)]
        label = f"{kind}: " + (" + ".join(parts) if parts else "no work, no cancel")
        self.c.answers[label] = self.c.answers.get(label, 0) + 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/bench/counts":
            await self._answer(send, self.snapshot())
            return
        if path == "/bench/reset":
            self._listen()
            eng = self._engine()
            self.c = Counters()
            if eng is not None:
                self.c.batches0, self.c.commands0 = eng.batches, eng.commands
                self.c.commits0 = getattr(eng, "commits", 0)
            await self._answer(send, {"reset": True})
            return
        key = f"{scope['method']} {route(path)}"
        began = time.perf_counter()
        kind = path.rsplit("/", 1)[-1] if path.startswith("/api/v1/workers/") else ""
        body = bytearray()

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, keep if kind in ("pull", "report") else send)
            if kind in ("pull", "report"):
                self._classify(kind, bytes(body))
        finally:
            slot = self.c.requests.setdefault(key, [0, 0.0])
            slot[0] += 1
            slot[1] += time.perf_counter() - began


COUNTING: list[Counting] = []


def create_app(settings: ServerSettings) -> Any:
    counting = Counting(Front(server_app.create_app(settings)))
    COUNTING.append(counting)
    return counting


def _as_is(app: Any) -> Any:
    return app


# serve() calls the create_app it imported: replace that name in its module; the counting
# middleware goes outside the server's Front (which create_app above puts in already).
server_main.create_app = create_app  # type: ignore[attr-defined]
server_main.Front = _as_is  # type: ignore[attr-defined,assignment]

if __name__ == "__main__":
    main()
