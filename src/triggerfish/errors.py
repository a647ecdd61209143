"""The one exception root of triggerfish and its meaningful subclasses.

Every error carries a machine-readable ``code`` and a human ``message``; the HTTP layer maps
them to status codes (``http_status``) and the CLI prints the message and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class TriggerfishError(Exception):
    """Root of every error triggerfish raises on purpose."""

    code = "error"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.details:
            out["details"] = self.details
        return out


class ValidationError(TriggerfishError):
    """Input that is malformed or inconsistent; names the field and the problem."""

    code = "invalid"
    http_status = 422


class NotFound(TriggerfishError):
    """An id, work name, host or other key that does not exist."""

    code = "not_found"
    http_status = 404


class NoSuchJob(NotFound):
    """A job id that does not exist (or no longer: removed, or deleted by retention)."""

    code = "no_such_job"


class NoSuchItem(NotFound):
    """A job that exists but has no such agenda item or instance."""

    code = "no_such_item"


class NotStarted(NotFound):
    """An agenda item or instance that has not run yet, so it has no output to show."""

    code = "not_started"


class Unauthorized(TriggerfishError):
    """A request without a token, or with one the supervisor does not know."""

    code = "unauthorized"
    http_status = 401


class Forbidden(TriggerfishError):
    """A known token whose user may not do what the request asks."""

    code = "forbidden"
    http_status = 403


class Conflict(TriggerfishError):
    """A request that makes no sense in the current state (e.g. unblocking a running job)."""

    code = "conflict"
    http_status = 409


class TooLarge(TriggerfishError):
    """A request body over the supervisor's limit (``--max-body``)."""

    code = "too_large"
    http_status = 413


class StoreError(TriggerfishError):
    """A database problem, translated at the store boundary (its message says what, never
    the SQL: the detail is in the supervisor's log)."""

    code = "store_unavailable"
    http_status = 503


class StoreRefused(StoreError):
    """A value the database cannot hold (a NUL in PostgreSQL text, a lone surrogate, a
    number out of its range): the request's fault, not the store's."""

    code = "unstorable"
    http_status = 422


class ClientError(TriggerfishError):
    """The client could not talk to the supervisor, or the supervisor refused a request."""

    code = "client"

    def __init__(self, message: str, *, status: int | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.status = status
