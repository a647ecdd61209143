"""The worker's side of the HTTP protocol: one keep-alive client, typed requests and answers.

The client is an ``httpx.AsyncClient``; over ``http://`` it runs on
:class:`~triggerfish.worker.transport.KeepAliveTransport`, which is several times cheaper than
httpx's default transport for the worker's small requests.

Every failure becomes one of the errors of :mod:`triggerfish.worker.errors`, which say what to
do next: retry later, register again, or give up.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import TypeVar
from urllib.parse import quote

import httpx
import pydantic

from triggerfish import __version__
from triggerfish.api.schemas import (
    LogChunk,
    PullRequest,
    PullResponse,
    RegisterRequest,
    RegisterResponse,
    ReportRequest,
    ReportResponse,
    SignOffRequest,
)
from triggerfish.worker.errors import ProtocolError, Rejected, SessionLost, SupervisorUnreachable
from triggerfish.worker.transport import KeepAliveTransport, LeanAsyncClient

M = TypeVar("M", bound=pydantic.BaseModel)

REQUEST_TIMEOUT = 30.0
PULL_MARGIN = 10.0  # a long poll may take this much longer than its wait
RETRY_STATUSES = frozenset({408, 425, 429})
SESSION_STATUSES = frozenset({404, 410})
KEEPALIVE_EXPIRY = 4.0  # idle connections go before uvicorn's 5 s keep-alive drops them


def _error_message(resp: httpx.Response) -> str:
    try:
        body = json.loads(resp.content)
        message = body["error"]["message"]
        if isinstance(message, str):
            return message
    except (ValueError, KeyError, TypeError):
        pass
    text = resp.text.strip()
    return text[:200] if text else resp.reason_phrase


class SupervisorLink:
    """The endpoints under ``/api/v1/workers``, over one ``httpx.AsyncClient``."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        connect_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        lean_transport: bool = True,
    ) -> None:
        headers = {
            "user-agent": f"triggerfish-worker/{__version__}",
            "content-type": "application/json",
            "accept-encoding": "identity",
        }
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.url = url.rstrip("/")
        self.connect_timeout = connect_timeout
        self._timeouts: dict[float, httpx.Timeout] = {}
        if transport is None and lean_transport:
            transport = KeepAliveTransport(keepalive_expiry=KEEPALIVE_EXPIRY)
        self._client = LeanAsyncClient(
            base_url=f"{self.url}/api/v1/workers",
            headers=headers,
            timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=32, max_keepalive_connections=16, keepalive_expiry=KEEPALIVE_EXPIRY
            ),
            transport=transport,
        )

    async def __aenter__(self) -> SupervisorLink:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def register(self, req: RegisterRequest) -> RegisterResponse:
        content = await self._post("/register", req, session_scoped=False)
        return self._parse(RegisterResponse, content, "register")

    async def pull(self, host: str, req: PullRequest) -> PullResponse:
        content = await self._post(
            f"/{quote(host, safe='')}/pull", req, timeout=req.wait + PULL_MARGIN
        )
        return self._parse(PullResponse, content, "pull")

    async def report(self, host: str, req: ReportRequest) -> ReportResponse:
        content = await self._post(f"/{quote(host, safe='')}/report", req)
        try:
            return self._parse(ReportResponse, content, "report")
        except ProtocolError:
            # 2xx means the reports were taken; what it says about each is only information.
            return ReportResponse(accepted=[r.token for r in req.reports])

    async def log(self, host: str, chunk: LogChunk) -> None:
        await self._post(f"/{quote(host, safe='')}/log", chunk)

    async def signoff(self, host: str, req: SignOffRequest) -> None:
        await self._post(f"/{quote(host, safe='')}/signoff", req)

    async def _post(
        self,
        path: str,
        body: pydantic.BaseModel,
        *,
        timeout: float = REQUEST_TIMEOUT,
        session_scoped: bool = True,
    ) -> bytes:
        limits = self._timeouts.get(timeout)
        if limits is None:
            limits = self._timeouts[timeout] = httpx.Timeout(timeout, connect=self.connect_timeout)
        try:
            resp = await self._client.post_ok(path, content=body.model_dump_json(), timeout=limits)
        except httpx.RequestError as exc:
            raise SupervisorUnreachable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if isinstance(resp, bytes):  # a success, on the lean path
            return resp
        status = resp.status_code
        if status < 300:
            return resp.content
        message = f"HTTP {status}: {_error_message(resp)}"
        if session_scoped and status in SESSION_STATUSES:
            raise SessionLost(message, status=status)
        if status >= 500 or status in RETRY_STATUSES:
            raise SupervisorUnreachable(message, status=status)
        raise Rejected(message, status=status)

    @staticmethod
    def _parse(model: type[M], content: bytes, what: str) -> M:
        try:
            return model.model_validate_json(content)
        except pydantic.ValidationError as exc:
            raise ProtocolError(f"unreadable answer to {what}: {exc.errors()[0]['msg']}") from exc
