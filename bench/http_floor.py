"""The floor: supervisor-side CPU of one HTTP request on this machine, without triggerfish.

    python bench/http_floor.py [--requests 3000] [--repeat 3] [--json]

Serves three tiny apps with uvicorn exactly as the supervisor does (``uvicorn.run``,
``access_log=False``, log level warning; the same HTTP implementation: h11 unless httptools is
installed) in a child process, sends ``--requests`` keep-alive POSTs with a small JSON body
(the shape of a worker's report) from two client threads, and reads the server process's CPU
time (user + system) around them:

- ``asgi``: a bare ASGI callable that reads the body and answers a fixed JSON: uvicorn + h11.
- ``fastapi``: a FastAPI route with a pydantic request body and ``response_model``, as the
  supervisor's worker routes are.
- ``fastapi+hop``: the same route answering through a second thread (``queue.put`` of a
  ``concurrent.futures.Future``, ``asyncio.wrap_future``), as ``Engine.acall`` does.

Multiply by the requests per frame (bench/profile_throughput.py counts them) to see what the
HTTP stack alone costs per frame.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import psutil
from _common import code_line, code_state, machine, say, stats, table
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

KINDS = ("asgi", "fastapi", "fastapi+hop")
BODY = {
    "session": "0123456789abcdef01234567",
    "reports": [{"token": "0123456789abcdef", "status": "complete", "exit_code": 0}],
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str
    status: str
    exit_code: int | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session: str
    reports: list[Report] = Field(min_length=1)


class ReportResponse(BaseModel):
    accepted: list[str] = Field(default_factory=list)
    ignored: list[str] = Field(default_factory=list)


def make_app(kind: str) -> Any:
    if kind == "asgi":
        answer = json.dumps({"accepted": ["0123456789abcdef"], "ignored": []}).encode()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                while True:
                    msg = await receive()
                    if msg["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif msg["type"] == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            more = True
            while more:
                msg = await receive()
                more = msg.get("more_body", False)
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer})

        return app

    fast = FastAPI()
    work: queue.SimpleQueue[tuple[ReportRequest, Future[ReportResponse]]] = queue.SimpleQueue()

    def engine() -> None:
        while True:
            req, fut = work.get()
            fut.set_result(ReportResponse(accepted=[r.token for r in req.reports]))

    if kind == "fastapi+hop":
        threading.Thread(target=engine, daemon=True).start()

    @fast.post("/api/v1/workers/{host}/report", response_model=ReportResponse)
    async def report(host: str, body: ReportRequest) -> ReportResponse:
        if kind == "fastapi":
            return ReportResponse(accepted=[r.token for r in body.reports])
        fut: Future[ReportResponse] = Future()
        work.put((body, fut))
        return await asyncio.wrap_future(fut)

    return fast


def serve(kind: str, port: int) -> None:
    import uvicorn

    uvicorn.run(make_app(kind), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def measure(kind: str, requests: int, clients: int = 2) -> dict[str, float]:
    from triggerfish.cli.local import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port)],
        stdin=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/workers/h/report"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(url, json=BODY).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        server = psutil.Process(proc.pid)
        each = requests // clients

        def client(_: int) -> None:
            with httpx.Client() as c:
                for _ in range(each):
                    c.post(url, json=BODY).raise_for_status()

        t0 = server.cpu_times()
        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients)))
        elapsed = time.perf_counter() - began
        t1 = server.cpu_times()
        cpu = (t1.user - t0.user) + (t1.system - t0.system)
        n = each * clients
        return {"server_cpu_ms_per_request": 1000 * cpu / n, "requests_per_s": n / elapsed}
    finally:
        proc.terminate()
        proc.wait(10)


def http_impl() -> str:
    """What uvicorn's "auto" picks here: the HTTP parser and the event loop."""
    found = {m: importlib.util.find_spec(m) is not None for m in ("httptools", "uvloop")}
    http = "httptools" if found["httptools"] else "h11"
    loop = "uvloop" if found["uvloop"] else "asyncio"
    return f"{http}, {loop}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true")
    p.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    code = code_state()
    results = {}
    for kind in KINDS:
        rows = []
        for i in range(args.repeat):
            row = measure(kind, args.requests)
            say(f"[{kind} {i + 1}/{args.repeat}] {row['server_cpu_ms_per_request']:.3f} ms CPU/req")
            rows.append(row)
        results[kind] = stats(rows)
    footer = code_line(code)
    if args.json:
        doc = {
            "benchmark": "http_floor",
            "machine": machine(),
            "code": code,
            "http": http_impl(),
            "params": {"requests": args.requests, "repeat": args.repeat},
            "results": {k: {m: s.as_dict() for m, s in v.items()} for k, v in results.items()},
        }
        print(json.dumps(doc, indent=2))
    else:
        lines = [
            [
                k,
                v["server_cpu_ms_per_request"].fmt(3),
                v["requests_per_s"].fmt(0),
            ]
            for k, v in results.items()
        ]
        print(table(["app", "server CPU ms/request", "requests/s (2 clients)"], lines))
        print(
            f"\nHTTP: uvicorn + {http_impl()}; median (min-max) of {args.repeat} runs of "
            f"{args.requests} requests"
        )
        print(footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
