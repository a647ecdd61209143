"""The errors of ``triggerfish.futures`` (under the one root, ``TriggerfishError``)."""

from __future__ import annotations

from typing import Any

from triggerfish.errors import TriggerfishError


class PickleRefused(TriggerfishError):
    """A call that needs pickle (a lambda, a closure, arguments that are not JSON) for a
    supervisor that does not accept pickles (it runs without ``--allow-pickle``)."""

    code = "pickle_refused"
    http_status = 422


class RemoteError(TriggerfishError):
    """A call that ended on the farm without a result the executor can give back: an exception
    that cannot be rebuilt here (its type does not import, or its arguments are not JSON
    without pickle), an item that failed without a result (its process died, a time limit),
    or a job removed meanwhile. ``type`` names the remote exception's type when there was one,
    ``traceback`` holds its traceback text."""

    code = "remote_error"

    def __init__(
        self, message: str, *, type: str | None = None, traceback: str = "", **details: Any
    ) -> None:
        super().__init__(message, **details)
        self.type = type
        self.traceback = traceback
