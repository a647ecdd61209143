"""Errors of the client: HTTP failures turned into ClientError, and the timeout of ``wait``."""

from __future__ import annotations

from typing import Any

import httpx

from triggerfish.errors import ClientError, TriggerfishError

__all__ = ["ClientError", "WaitTimeout", "error_from_response"]


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
