"""What the worker's log lines say about an attempt: its job, item, instance and host
(``triggerfish.logfmt`` names the keys), found by its token.

The worker notes each assignment as it arrives (:func:`remember`); a line about an attempt
then needs only its token: ``extra={"action": ..., **worklog.fields(token)}``. The newest
``LIMIT`` attempts are kept (a worker holds far fewer at a time); a line about an attempt
forgotten meanwhile names only the attempt.
"""

from __future__ import annotations

from typing import Any

from triggerfish.api.schemas import Assignment

LIMIT = 20_000
_known: dict[str, dict[str, Any]] = {}


def remember(a: Assignment, host: str) -> None:
    """Note what attempt ``a.token`` is, for the log lines about it."""
    _known[a.token] = {
        "job": a.job, "item": a.work, "instance": a.subid, "host": host, "attempt": a.token,
    }  # fmt: skip
    if len(_known) > LIMIT:
        del _known[next(iter(_known))]


def fields(token: str, a: Assignment | None = None) -> dict[str, Any]:
    """The ``extra=`` keys naming attempt ``token``: as remembered, else from ``a`` (without
    the host), else only ``attempt``."""
    known = _known.get(token)
    if known is not None:
        return dict(known)
    if a is not None:
        return {"job": a.job, "item": a.work, "instance": a.subid, "attempt": token}
    return {"attempt": token}
