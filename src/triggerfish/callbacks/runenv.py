"""The environment of a callback's child process, for every language that runs code.

One function builds it, so python, perl and exec runs see the same variables:
``TRIGGERFISH_URL`` and ``TRIGGERFISH_TOKEN`` (a token of this run only, with the rights of
the callback's owner), the event (``TRIGGERFISH_EVENT`` as JSON, ``TRIGGERFISH_BINDINGS``,
``TRIGGERFISH_RUN``, ``TRIGGERFISH_WORK``) and Qube's ``QBJOBID`` / ``QBSUBID``. The
supervisor's own ``TRIGGERFISH_*`` variables (its token, database URL, data dir, ...) are
not passed on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from triggerfish.callbacks.osuser import CallbackUser


def callback_env(
    spec: Mapping[str, Any],
    *,
    url: str,
    token: str,
    user: CallbackUser | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of the child running ``spec`` (a launch spec of the engine)."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("TRIGGERFISH_")}
    ev = spec["event"]
    env.update(
        TRIGGERFISH_URL=url,
        TRIGGERFISH_TOKEN=token,
        TRIGGERFISH_EVENT=json.dumps(ev),
        TRIGGERFISH_BINDINGS=json.dumps(spec["bindings"]),
        TRIGGERFISH_RUN=str(spec["run"]),
    )
    if spec.get("user"):
        env["TRIGGERFISH_USER"] = str(spec["user"])
    if spec["job"] is not None:
        env["QBJOBID"] = str(spec["job"])
    if ev.get("subid") is not None:
        env["QBSUBID"] = str(ev["subid"])
    work = next(iter(spec["bindings"].values()), None) or ev.get("work")
    if work is not None:
        env["TRIGGERFISH_WORK"] = str(work)
    if user is not None:
        env.update(HOME=user.home, USER=user.name, LOGNAME=user.name)
    return env
