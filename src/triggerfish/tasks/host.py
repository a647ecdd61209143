"""The process tasks run in: ``python -m triggerfish.tasks.host`` (started by a worker).

It runs one task at a time, as long as the worker keeps it. Requests come as JSON lines on
stdin (``{"target", "params", "encoding"}``); each answer is one JSON line on the original
stdout (``{"ok": true, "value"}`` or ``{"ok": false, "error", "traceback"}``). What the task
prints, on either stream, goes to stderr, which the worker keeps as the task's output. A task
that exits the process or crashes it ends this process only; the worker starts another.

The modules named in ``TRIGGERFISH_TASK_IMPORTS`` (comma- or space-separated; the worker's
``--task-import``) are imported first: the place for ``tasks.register_service`` calls.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import IO, Any

from triggerfish.model.tasks import ParamsError, decode_params
from triggerfish.tasks.registry import TargetError, resolve

IMPORTS_ENV = "TRIGGERFISH_TASK_IMPORTS"
DONE = b"\x00"


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


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
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
        os.write(2, DONE)  # the worker knows the task's output is complete
        answers.write(json.dumps(answer).encode() + b"\n")
        answers.flush()


def main() -> int:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # print() of a task goes to stderr, never into the answers
    requests = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    serve(requests, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
