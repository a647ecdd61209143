"""The environment of a callback run: one function for every runner (python, perl, exec).

A run sees the supervisor's environment minus its ``TRIGGERFISH_*`` option variables (they may
hold a database URL or an SMTP password), plus the event:

- ``TRIGGERFISH_URL``: the supervisor's API, for ``qb`` (python and perl);
- ``TRIGGERFISH_EVENT`` (the triggering event as JSON), ``TRIGGERFISH_BINDINGS`` (pattern
  variables as JSON), ``TRIGGERFISH_EVENT_NAME``, ``TRIGGERFISH_EVENT_TYPE``,
  ``TRIGGERFISH_RUN``, ``TRIGGERFISH_CALLBACK``;
- ``QBJOBID`` (the callback's job), ``QBSUBID`` (the event's instance), ``TRIGGERFISH_WORK`` and
  ``QBWORKNAME`` (the item the binding or the event names), ``TRIGGERFISH_HOST`` (host events);
- ``TRIGGERFISH_TOKEN``: the run's own API token (made when the run starts, revoked when it
  ends) with the rights of the callback's owner, ``TRIGGERFISH_USER``;
- ``HOME``, ``USER``, ``LOGNAME`` of the ``--callback-user`` when runs drop to it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from triggerfish.callbacks.osuser import CallbackUser


def run_work(spec: Mapping[str, Any]) -> str | None:
    """The work item a run is about: the pattern variable's value, else the event's item."""
    bindings = spec.get("bindings") or {}
    work = next(iter(bindings.values()), None) or (spec.get("event") or {}).get("work")
    return None if work is None else str(work)


def callback_env(
    spec: Mapping[str, Any],
    url: str,
    token: str | None = None,
    *,
    user: CallbackUser | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of the run ``spec`` (a launch spec) on the supervisor at ``url``;
    ``token`` (the run's API token) goes in ``TRIGGERFISH_TOKEN``; ``user``: the OS user the
    run drops to; ``base``: the environment to start from (default: ours)."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("TRIGGERFISH_")}
    ev = dict(spec.get("event") or {})
    env.update(
        TRIGGERFISH_URL=url,
        TRIGGERFISH_EVENT=json.dumps(ev),
        TRIGGERFISH_BINDINGS=json.dumps(spec.get("bindings") or {}),
        TRIGGERFISH_RUN=str(spec["run"]),
        TRIGGERFISH_CALLBACK=str(spec.get("callback")),
        TRIGGERFISH_EVENT_NAME=str(ev.get("name") or ""),
        TRIGGERFISH_EVENT_TYPE=str(ev.get("type") or ""),
    )
    if spec.get("job") is not None:
        env["QBJOBID"] = str(spec["job"])
    if ev.get("subid") is not None:
        env["QBSUBID"] = str(ev["subid"])
    work = run_work(spec)
    if work is not None:
        env["TRIGGERFISH_WORK"] = work
        env["QBWORKNAME"] = work
    if ev.get("host") is not None:
        env["TRIGGERFISH_HOST"] = str(ev["host"])
    if token:
        env["TRIGGERFISH_TOKEN"] = token
    if spec.get("user"):
        env["TRIGGERFISH_USER"] = str(spec["user"])
    if user is not None:
        env.update(HOME=user.home, USER=user.name, LOGNAME=user.name)
    return env
