"""The process a python callback runs in: ``python -m triggerfish.callbacks.pyrun``.

The code comes on stdin; the event in the environment (``QBJOBID``, ``QBSUBID``,
``TRIGGERFISH_WORK``, ``TRIGGERFISH_EVENT`` as JSON, ``TRIGGERFISH_BINDINGS``), and
``TRIGGERFISH_URL`` names the supervisor, so ``qb`` (importable as ``qb`` and preset as a
global) acts on it through the API. Whatever the code does — ``sys.exit()``, an endless loop,
a crash — ends this process only.

``--as-user NAME`` (the supervisor's ``--callback-user``): the process loads triggerfish as
the supervisor's user, then drops to that OS user before it reads the code; if it cannot,
the code does not run.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import types
from typing import Any


class _LazyQb(types.ModuleType):
    """``qb``, imported on first use: a run that does not call it starts in a fraction of the
    time (the client behind it pulls in httpx)."""

    def __getattr__(self, name: str) -> Any:
        import triggerfish.qb as real

        sys.modules["qb"] = real
        return getattr(real, name)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    qb: types.ModuleType = _LazyQb("qb")
    if args[:1] == ["--as-user"] and len(args) == 2:
        # loaded before the drop: the callback user may not read the supervisor's installation
        import triggerfish.qb as qb
        from triggerfish.callbacks.osuser import drop, resolve

        try:
            drop(resolve(args[1]))
        except Exception as exc:
            print(f"cannot run the callback as OS user {args[1]!r}: {exc}", file=sys.stderr)
            return 1
    elif args:
        print(f"pyrun: unexpected arguments {args!r}", file=sys.stderr)
        return 2
    code = sys.stdin.read()
    sys.modules["qb"] = qb
    event = json.loads(os.environ.get("TRIGGERFISH_EVENT", "{}"))
    bindings = json.loads(os.environ.get("TRIGGERFISH_BINDINGS", "{}"))
    env = {"__name__": "__callback__", "qb": qb, "event": event, "bindings": bindings}
    try:
        exec(compile(code, "<callback>", "exec"), env)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            print(f"callback called sys.exit({exc.code!r})", file=sys.stderr)
            return exc.code if isinstance(exc.code, int) else 1
        return 0
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
