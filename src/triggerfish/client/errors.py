"""Errors of the client: HTTP failures turned into ClientError, and the timeout of ``wait``."""

from __future__ import annotations

from typing import Any

import httpx

from triggerfish.errors import ClientError, TriggerfishError

__all__ = [
    "CannotFinish",
    "ClientError",
    "Unreachable",
    "WaitTimeout",
    "error_from_response",
    "is_transient",
]

# answers of a supervisor that is restarting, or of a proxy in front of one that is down
TRANSIENT_STATUSES = frozenset({502, 503, 504})


class Unreachable(ClientError):
    """The supervisor did not answer: connection refused or reset, or no answer in time."""

    code = "unreachable"


def is_transient(exc: ClientError) -> bool:
    """An error that goes away when the supervisor is back (waiting loops retry it)."""
    return isinstance(exc, Unreachable) or exc.status in TRANSIENT_STATUSES


class CannotFinish(TriggerfishError):
    """``Client.wait``: jobs that can no longer finish by themselves (e.g. blocked behind a
    failed upstream under ``dependency_failure: wait``, or behind a job that does not exist).

    ``stuck`` maps each such job to why; ``statuses`` holds the last status of every job
    waited on (the others ended)."""

    code = "cannot_finish"
    http_status = 409

    def __init__(self, stuck: dict[int, str], statuses: dict[int, str]) -> None:
        shown = "; ".join(
            f"job {jid} ({statuses.get(jid, '?')}) {why}" for jid, why in stuck.items()
        )
        super().__init__(f"jobs that cannot finish: {shown}")
        self.stuck: dict[int, str] = dict(stuck)
        self.statuses: dict[int, str] = dict(statuses)


class WaitTimeout(TriggerfishError, TimeoutError):
    """``Client.wait`` gave up before every job ended; ``statuses`` holds the last ones seen."""

    code = "timeout"
    http_status = 504

    def __init__(self, message: str, *, statuses: dict[int, str] | None = None) -> None:
        super().__init__(message)
        self.statuses: dict[int, str] = dict(statuses or {})


def _loc(parts: list[Any]) -> str:
    """``["body", 0, "priority"]`` -> ``body[0].priority``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _fastapi_detail(detail: Any) -> str:
    """FastAPI's own error bodies: ``{"detail": "Not Found"}`` or a list of pydantic errors."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        lines = []
        for err in detail:
            if not isinstance(err, dict):
                lines.append(str(err))
                continue
            loc = _loc(list(err.get("loc") or []))
            msg = str(err.get("msg", "invalid"))
            lines.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(lines) or "invalid request"
    return str(detail)


def error_from_response(resp: httpx.Response) -> ClientError:
    """The ClientError for a 4xx/5xx answer, carrying the server's own message."""
    status = resp.status_code
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        message = str(err.get("message") or err.get("code") or f"HTTP {status}")
        if status == 401:
            message += (
                "; give the token with --token / TRIGGERFISH_TOKEN, or name the supervisor's "
                "data dir (--data-dir / TRIGGERFISH_DATA_DIR) so its admin.token is found"
            )
        extra = {"details": err["details"]} if isinstance(err.get("details"), dict) else {}
        return ClientError(
            message, status=status, field=err.get("field"), code=err.get("code", "error"), **extra
        )
    if isinstance(body, dict) and "detail" in body:
        return ClientError(_fastapi_detail(body["detail"]), status=status, code="invalid")
    text = resp.text.strip()
    reason = resp.reason_phrase or "error"
    snippet = f": {text[:300]}" if text else ""
    return ClientError(
        f"HTTP {status} {reason} from {resp.request.method} {resp.request.url}{snippet}",
        status=status,
    )
