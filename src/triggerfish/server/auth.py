"""Authentication of every API request, and the tokens the supervisor knows.

``TokenAuth`` (ASGI middleware) refuses any ``/api/`` request but the probes
(``PUBLIC_PATHS``) without a known bearer token (401) before a route runs, so a refused request
changes nothing; the routes then check
permissions (403) with :func:`who`. ``Authority`` holds what a token stands for: the users
and worker tokens of the database (cached here, by token hash), the local admin token, the
short-lived tokens of callback runs (in memory only, revoked when the run ends), and the job
tokens of running jobs' commands and tasks (checked by their MAC, see ``auth.jobtokens``).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from triggerfish.auth.jobtokens import PREFIX as JOB_PREFIX
from triggerfish.auth.jobtokens import JobKeys
from triggerfish.auth.permissions import (
    ADMIN,
    KIND_JOB,
    KIND_LOCAL,
    KIND_RUN,
    KIND_WORKER,
    SUBMIT,
    WORKER,
    Principal,
)
from triggerfish.auth.sessions import CSRF_HEADER, SessionKeys, cookie_of, safe_method
from triggerfish.auth.tokens import bearer, hash_token, new_token, same_hash
from triggerfish.errors import Unauthorized

logger = logging.getLogger(__name__)
SEEN_MAX = 4096  # tokens remembered as already checked (emptied when full)
# the probes of load balancers and orchestrators: no token, nothing secret in their answers
PUBLIC_PATHS = frozenset({"/api/v1/health", "/api/v1/ready"})


def local_admin_name() -> str:
    """The name the local admin token acts as: the supervisor's OS login."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "admin"


def principal_of(row: Mapping[str, Any]) -> Principal:
    perms = [WORKER] if row["kind"] == KIND_WORKER else list(row["permissions"])
    return Principal(row["name"], frozenset(perms), row["kind"])


class Authority:
    """Token hash -> principal, for every token this supervisor accepts. Thread-safe."""

    def __init__(self, local_token: str, local_name: str | None = None) -> None:
        self.local = Principal(local_name or local_admin_name(), frozenset({ADMIN}), KIND_LOCAL)
        self._local_hash = hash_token(local_token)
        self._lock = threading.Lock()
        self._by_hash: dict[str, Principal] = {}
        self._by_name: dict[str, tuple[str, Principal]] = {}
        self._runs: dict[str, Principal] = {}
        # presented token -> principal, so that a known token is not hashed again on every
        # request; emptied by every change of what a token stands for (a user added, changed
        # or dropped, a run token revoked), under the same lock: a change applies at once
        self._seen: dict[str, Principal] = {}
        self.changes = asyncio.Lock()  # one change of the users at a time (the cache follows)
        self.job_keys = JobKeys(local_token)
        self.session_keys = SessionKeys(local_token)
        # job id -> its owner while the job is not finished (None otherwise); set by the app
        self.job_owner: Callable[[int], str | None] = lambda _job_id: None

    def load(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.put(row)

    def put(self, row: Mapping[str, Any]) -> None:
        """Add a user, or replace its rights and token."""
        p = principal_of(row)
        with self._lock:
            old = self._by_name.pop(p.name, None)
            if old is not None:
                self._by_hash.pop(old[0], None)
            self._by_name[p.name] = (row["token_hash"], p)
            self._by_hash[row["token_hash"]] = p
            self._seen.clear()

    def drop(self, name: str) -> None:
        with self._lock:
            old = self._by_name.pop(name, None)
            if old is not None:
                self._by_hash.pop(old[0], None)
            self._seen.clear()

    def authenticate(self, token: str) -> Principal | None:
        if token.startswith(JOB_PREFIX):  # never remembered: valid only while its job runs
            return self._job(token)
        seen = self._seen.get(token)  # (a dict read is atomic; a change empties it first)
        if seen is not None:
            return seen
        h = hash_token(token)
        if same_hash(h, self._local_hash):
            p: Principal | None = self.local
        else:
            with self._lock:
                p = self._by_hash.get(h) or self._runs.get(h)
        if p is not None:
            with self._lock:  # not cached if the users changed since the lookup above
                if (self._by_hash.get(h) or self._runs.get(h) or self.local) is p:
                    if len(self._seen) >= SEEN_MAX:
                        self._seen.clear()
                    self._seen[token] = p
        return p

    def by_hash(self, token_hash: str) -> Principal | None:
        """The principal of a token known by its hash (a web session's), if still valid."""
        if same_hash(token_hash, self._local_hash):
            return self.local
        with self._lock:
            p = self._by_hash.get(token_hash)
        return None if p is None or p.kind == KIND_WORKER else p

    def by_session(self, cookie: str) -> Principal | None:
        """The principal a web session cookie stands for (None: forged, expired, or its
        token no longer valid)."""
        session = self.session_keys.session(cookie)
        return None if session is None else self.by_hash(session.token_hash)

    def _job(self, token: str) -> Principal | None:
        """A job token: valid while its job is not finished, with its owner's rights."""
        job_id = self.job_keys.job_of(token)
        owner = None if job_id is None else self.job_owner(job_id)
        if job_id is None or owner is None or not self.job_keys.valid(token, job_id, owner):
            return None
        return Principal(owner, self.rights_of(owner).permissions, KIND_JOB)

    def rights_of(self, owner: str) -> Principal:
        """What a callback of ``owner`` may do: the user's permissions; admin for the local
        admin's name; ``submit`` (own jobs) for a name with no user record."""
        with self._lock:
            known = self._by_name.get(owner)
        if known is not None and known[1].kind != KIND_WORKER:
            perms = known[1].permissions
        elif owner == self.local.name:
            perms = frozenset({ADMIN})
        else:
            perms = frozenset({SUBMIT})
        return Principal(owner, perms, KIND_RUN)

    def issue_run_token(self, owner: str, site: bool = False) -> str:
        """A token for one callback run, with its owner's rights (``site``: a universal
        callback, the site administrator's code: admin rights); revoke it when it ends."""
        token = new_token()
        p = Principal(owner, frozenset({ADMIN}), KIND_RUN) if site else self.rights_of(owner)
        with self._lock:
            self._runs[hash_token(token)] = p
        return token

    def revoke_run_token(self, token: str) -> None:
        with self._lock:
            self._runs.pop(hash_token(token), None)
            self._seen.clear()

    @property
    def run_tokens(self) -> int:
        with self._lock:
            return len(self._runs)


def who(request: Request) -> Principal:
    """The principal of an authenticated request (set by :class:`TokenAuth`)."""
    p: Principal = request.state.principal
    return p


async def require_worker(request: Request) -> None:
    """Router dependency of the worker routes: a worker token (or admin)."""
    who(request).require(WORKER, "the worker API")


class TokenAuth:
    """ASGI middleware: every ``/api/`` request carries a known bearer token, or gets 401."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        token = cookie = csrf = None
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                token = bearer(value.decode("latin-1"))
            elif key == b"cookie":
                cookie = cookie_of(value.decode("latin-1"))
            elif key == CSRF_HEADER.encode():
                csrf = value.decode("latin-1")
        authority: Authority = scope["app"].state.ctx.auth
        principal, why = _principal(authority, scope["method"], token, cookie, csrf)
        if principal is not None:
            scope.setdefault("state", {})["principal"] = principal
        elif scope["path"].startswith("/api/"):
            await _refuse(send, why)
            return
        await self.app(scope, receive, send)


def _principal(
    authority: Authority, method: str, token: str | None, cookie: str | None, csrf: str | None
) -> tuple[Principal | None, str]:
    """Who a request acts as: its bearer token's principal, else its web session's (a
    request that changes something with a session needs the session's CSRF token)."""
    if token is not None:
        return authority.authenticate(token), "unknown API token"
    if cookie is None:
        return None, "no API token given"
    principal = authority.by_session(cookie)
    if principal is None:
        return None, "the web session has ended (log in again)"
    if not safe_method(method) and not authority.session_keys.csrf_ok(cookie, csrf):
        return None, "a web session's request that changes something needs its CSRF token"
    return principal, ""


async def _refuse(send: Send, why: str) -> None:
    err = Unauthorized(
        f"{why} (send 'Authorization: Bearer TOKEN'; see docs/security.md)",
        field="token",
    )
    body = json.dumps({"error": err.to_dict()}).encode()
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b"Bearer"),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
