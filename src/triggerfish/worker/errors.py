"""Errors of the worker: talking to the supervisor, and commands it cannot run.

The HTTP ones derive from :class:`triggerfish.errors.ClientError` (the worker is a client of
the supervisor); they differ in what the worker does about them:

- :class:`SupervisorUnreachable`: try again later (connection refused, timeout, 5xx, 429);
- :class:`SessionLost`: the supervisor does not know this host or session (404/410): register
  again;
- :class:`Rejected`: the supervisor refused the request for good (other 4xx);
- :class:`ProtocolError`: the supervisor answered something this worker cannot read.
"""

from __future__ import annotations

from typing import Any

from triggerfish.errors import ClientError, TriggerfishError


class WorkerError(TriggerfishError):
    """Root of the worker's own errors."""

    code = "worker"


class CommandError(WorkerError):
    """An assignment whose package cannot be turned into a command (reported as failed)."""

    code = "command"
    http_status = 422


class SupervisorUnreachable(ClientError):
    """The supervisor did not answer, or answered with a temporary error."""

    code = "unreachable"
    http_status = 503


class SessionLost(ClientError):
    """The supervisor no longer knows this host or session; the worker must register again."""

    code = "session_lost"
    http_status = 410


class Rejected(ClientError):
    """The supervisor refused a request for good (a 4xx other than 404/410)."""

    code = "rejected"
    http_status = 400

    @property
    def is_auth(self) -> bool:
        return self.status in (401, 403)


class ProtocolError(ClientError):
    """A 2xx answer whose body does not match the wire protocol."""

    code = "protocol"
    http_status = 502

    def __init__(self, message: str, *, status: int | None = None, **details: Any) -> None:
        super().__init__(message, status=status, **details)
