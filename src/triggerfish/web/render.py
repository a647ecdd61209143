"""Rendering a page: the templates, what every page gets (the user, the CSRF token, the
permissions), and the redirect to the login form when there is no session."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from triggerfish import __version__
from triggerfish.auth.permissions import Principal
from triggerfish.auth.sessions import COOKIE

_HERE = Path(str(files("triggerfish.web")))
STATIC_DIR = _HERE / "static"
templates = Jinja2Templates(directory=_HERE / "templates")
templates.env.globals["version"] = __version__

# the pages of the navigation bar: (path, title)
NAV = (("/", "Jobs"), ("/hosts", "Hosts"), ("/tasks", "Tasks"), ("/events", "Events"))


def viewer(request: Request) -> Principal:
    """Dependency of every page: the logged-in user, or a redirect to the login form."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, headers={"Location": f"/login?next={quote(target, safe='')}"})
    return principal


Viewer = Annotated[Principal, Depends(viewer)]  # a page's parameter: the logged-in user


def csrf_token(request: Request) -> str:
    """The CSRF token of the request's session ('' without one)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return ""
    return str(request.app.state.ctx.auth.session_keys.csrf(cookie))


def render(
    request: Request, template: str, principal: Principal | None, status: int = 200,
    **context: Any,
) -> HTMLResponse:  # fmt: skip
    """A page: ``template`` with ``context`` and what the layout needs."""
    return templates.TemplateResponse(
        request,
        template,
        {"user": principal, "csrf": csrf_token(request), "nav": NAV, **context},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )
