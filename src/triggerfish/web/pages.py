"""Logging in to and out of the web page (not in the API's OpenAPI schema)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from triggerfish.auth.permissions import KIND_JOB, KIND_RUN, KIND_WORKER
from triggerfish.auth.sessions import COOKIE, CSRF_FIELD, LIFETIME
from triggerfish.auth.tokens import hash_token
from triggerfish.server.context import ctx
from triggerfish.web.render import render

router = APIRouter(include_in_schema=False)
MAX_FORM = 16_384  # bytes of a login or logout form


def _local_target(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (never another site's URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _same_origin(request: Request) -> bool:
    """A form posted from this site's own page (browsers send ``Origin`` with a POST)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    pairs = parse_qs(body[:MAX_FORM].decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in pairs.items()}


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", None, next=_local_target(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    """Log in with an API token: a session cookie for the token's user (no worker, job or
    callback-run tokens: they are for programs)."""
    form = await _form(request)
    target = _local_target(form.get("next"))
    token = form.get("token", "").strip()
    if not _same_origin(request):
        return render(request, "login.html", None, 403, next=target,
                      error="this form must be sent from this supervisor's own page")  # fmt: skip
    principal = ctx(request).auth.authenticate(token) if token else None
    if principal is None or principal.kind in (KIND_WORKER, KIND_JOB, KIND_RUN):
        why = "no token given" if not token else "this token does not log in here"
        return render(request, "login.html", None, 401, next=target, error=why)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        ctx(request).auth.session_keys.cookie(hash_token(token)),
        max_age=int(LIFETIME),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session: a form of the page, with the session's CSRF token as a field (a form
    post has no header to carry it), so that another site cannot log a user out."""
    form = await _form(request)
    cookie = request.cookies.get(COOKIE)
    keys = ctx(request).auth.session_keys
    if cookie and not keys.csrf_ok(cookie, form.get(CSRF_FIELD)):
        return render(request, "login.html", None, 403, next="/",
                      error="logging out needs the page's CSRF token")  # fmt: skip
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
