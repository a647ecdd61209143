"""How long each HTTP request takes, by route template: ASGI middleware, outermost.

Every request that reaches the app passes here, the fast path's included (``Front`` hands them
to the middleware stack, whose outermost layer this is). The label is the route's template
(``/api/v1/jobs/{job_id}``), never the raw path, so that the number of series stays bounded:

- the route FastAPI matched (starlette leaves it in the request's scope);
- else the fast path's own route (``fastpath.template_of``);
- else (refused before routing: 401, 413) the first of the OpenAPI document's paths that
  matches;
- else ``other`` (no route: a 404).
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triggerfish.meters import Meters
from triggerfish.server.fastpath import template_of

OTHER = "other"


class Templates:
    """The app's route templates as its OpenAPI document lists them (every route of the API,
    however FastAPI nests its routers), each with its pattern: the label of a request refused
    before it was routed (a 401 of ``TokenAuth``, a 413 of ``BodyLimit``). Read once, at the
    first such request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def match(self, path: str) -> str | None:
        if self._patterns is None:
            try:
                paths = list(self.app.openapi().get("paths", {}))
            except Exception:  # (no label is worth a failed answer)
                paths = []
            self._patterns = [(compile_path(p)[0], p) for p in paths]
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return None


def route_label(scope: Scope, templates: Templates) -> str:
    """The route template of a request that has been answered (see the module docstring)."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", OTHER))
    path = scope["path"]
    return template_of(scope["method"], path) or templates.match(path) or OTHER


class RequestTimer:
    """ASGI middleware: each HTTP answer's time, from the request to the end of the app's
    answer, into ``meters`` (a request left unanswered, its client gone, is not counted)."""

    def __init__(self, app: ASGIApp, meters: Meters, fastapi: Any) -> None:
        self.app = app
        self.meters = meters
        self.templates = Templates(fastapi)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if status:
                self.meters.request(route_label(scope, self.templates), scope["method"], status,
                                    time.perf_counter() - began)  # fmt: skip
