"""The process tasks run in: ``python -m triggerfish.tasks.host`` (started by a worker).

It runs one task at a time, as long as the worker keeps it. Requests come as JSON lines on
stdin (``{"target", "params", "encoding"}``); each answer is one JSON line (``{"ok": true,
"value"}`` or ``{"ok": false, "error", "traceback"}``). What the task prints, on either
stream, goes to stderr, which the worker keeps as the task's output. After a task, the end of
its output and its answer go out on stderr in one write: the worker's marker (a random
string it passes in ``TRIGGERFISH_TASK_MARK``, taken out of the environment before any task
runs), then the answer line. An answer too long for one atomic pipe write (``PIPE_BUF``: a
thread of the task could still be printing) goes on the original stdout instead, the marker
followed by an empty line. So the worker wakes once per task, not once per pipe. A task
that exits the process or crashes it ends this process only; the worker starts another.

The modules named in ``TRIGGERFISH_TASK_IMPORTS`` (comma- or space-separated; the worker's
``--task-import``) are imported first: the place for ``tasks.register_service`` calls.
"""

from __future__ import annotations

import json
import os
import select
import sys
import traceback
from typing import IO, Any

from triggerfish.model.tasks import ParamsError, decode_params
from triggerfish.tasks.registry import TargetError, resolve

IMPORTS_ENV = "TRIGGERFISH_TASK_IMPORTS"
MARK_ENV = "TRIGGERFISH_TASK_MARK"
ATOMIC = select.PIPE_BUF  # a pipe write up to this size is never interleaved with another
TOKEN_ENV = "TRIGGERFISH_TOKEN"  # set to the running task's job token


def _import_setup() -> str | None:
    """Import the worker's setup modules; the error text if one fails."""
    import importlib

    for name in os.environ.get(IMPORTS_ENV, "").replace(",", " ").split():
        try:
            importlib.import_module(name)
        except BaseException as exc:
            traceback.print_exc()
            return f"{IMPORTS_ENV}: importing {name!r} failed: {exc!r}"
    return None


def run_one(req: dict[str, Any], setup_error: str | None = None) -> dict[str, Any]:
    """Resolve, decode, call; the answer (never raises for the task's faults)."""
    target = str(req.get("target", ""))
    try:
        fn = resolve(target)
    except TargetError as exc:
        msg = exc.message + (f" ({setup_error})" if setup_error else "")
        return {"ok": False, "error": msg, "traceback": None}
    try:
        params = decode_params(req.get("params"), str(req.get("encoding", "json")))
    except ParamsError as exc:
        return {"ok": False, "error": f"target {target!r}: {exc}", "traceback": None}
    token = req.get("api_token")
    if isinstance(token, str):  # the task's own job token: tasks.add() in a task works
        os.environ[TOKEN_ENV] = token
    else:
        os.environ.pop(TOKEN_ENV, None)
    try:
        value = fn(params)
    except SystemExit as exc:
        return {"ok": False, "error": f"task called sys.exit({exc.code!r})",
                "traceback": traceback.format_exc()}  # fmt: skip
    except BaseException as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()}  # fmt: skip
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return {"ok": False, "error": f"the return value is not JSON: {exc}", "traceback": None}
    return {"ok": True, "value": value}


def marker(nonce: str) -> bytes:
    """What ends a task's output: NUL, the worker's random nonce, NUL."""
    return b"\x00" + nonce.encode("ascii") + b"\x00"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def serve(requests: IO[bytes], answers: IO[bytes], mark: bytes) -> None:
    setup_error = _import_setup()
    for line in requests:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError as exc:
            answer: dict[str, Any] = {"ok": False, "error": f"unreadable request: {exc}"}
        else:
            answer = run_one(req, setup_error)
        sys.stdout.flush()
        sys.stderr.flush()
        data = json.dumps(answer).encode() + b"\n"
        if len(mark) + len(data) <= ATOMIC:
            os.write(2, mark + data)  # the output is complete, and here is the answer
        else:
            _write_all(2, mark + b"\n")  # the output is complete; the answer is on stdout
            answers.write(data)
            answers.flush()


def main() -> int:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # print() of a task goes to stderr, never into the answers
    requests = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    nonce = os.environ.pop(MARK_ENV, "")
    if not nonce:
        print(f"{MARK_ENV} is not set (this process is started by a worker)", file=sys.stderr)
        return 2
    serve(requests, answers, marker(nonce))
    return 0


if __name__ == "__main__":
    sys.exit(main())
