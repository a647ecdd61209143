"""Web sessions: the cookie the web page logs in with, and its CSRF token.

A user logs in to the web page with an API token (a password field). The supervisor answers
with a session cookie that holds no token: ``<payload>.<MAC>``, the payload the token's hash
and an expiry time, the MAC an HMAC-SHA256 under a key derived from the supervisor's local
admin token (like job tokens: nothing stored, valid across restarts). The cookie stands for
the principal of that token hash as long as the token is valid: a user whose token is
renewed or removed is logged out everywhere at once.

Every request that changes something with a session cookie (not a bearer token) carries the
session's CSRF token (``X-CSRF-Token`` header or a ``csrf`` form field), itself a MAC of the
cookie: a page of another site cannot read it, and the cookie is ``SameSite=Strict`` anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

COOKIE = "tf_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
LIFETIME = 7 * 24 * 3600.0  # seconds a login lasts
_CONTEXT = b"triggerfish web sessions\0"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def safe_method(method: str) -> bool:
    """A method that changes nothing (no CSRF token needed)."""
    return method.upper() in _SAFE_METHODS


@dataclass(frozen=True, slots=True)
class Session:
    """What a valid cookie says: the hash of the token logged in with, and until when."""

    token_hash: str
    expires: float


class SessionKeys:
    """Makes and checks session cookies and their CSRF tokens under one secret."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(_CONTEXT + secret.encode("utf-8")).digest()

    def _mac(self, what: bytes) -> str:
        return _b64(hmac.new(self._key, what, hashlib.sha256).digest())

    def cookie(self, token_hash: str, lifetime: float = LIFETIME) -> str:
        payload = _b64(json.dumps([token_hash, int(time.time() + lifetime)]).encode())
        return f"{payload}.{self._mac(payload.encode())}"

    def session(self, cookie: str) -> Session | None:
        """The session a cookie stands for; None if it is forged, malformed or expired."""
        payload, sep, mac = cookie.partition(".")
        if not sep or not hmac.compare_digest(mac.encode(), self._mac(payload.encode()).encode()):
            return None
        try:
            token_hash, expires = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        if not isinstance(token_hash, str) or not isinstance(expires, int):
            return None
        return Session(token_hash, float(expires)) if expires > time.time() else None

    def csrf(self, cookie: str) -> str:
        """The CSRF token of a session: forms and scripts of the page send it back."""
        return self._mac(b"csrf\0" + cookie.encode())

    def csrf_ok(self, cookie: str, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.csrf(cookie).encode()
        )


def cookie_of(header: str) -> str | None:
    """The session cookie's value in a ``Cookie:`` header, or None."""
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE and value:
            return value
    return None
