"""A real SMTP server for tests (aiosmtpd), keeping every message it receives."""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from triggerfish.cli.local import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self._lock:
            self.messages.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 60.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.1)
        raise AssertionError(f"{len(self.messages)} mails arrived, expected {count}")


class Login:
    """aiosmtpd authenticator: one user and password; remembers who logged in."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.logins: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:  # fmt: skip
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            self.user.encode(),
            self.password.encode(),
        )
        if ok:
            self.logins.append(self.user)
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


@contextmanager
def smtp_server(
    tls: ssl.SSLContext | None = None, login: Login | None = None
) -> Iterator[tuple[Inbox, int]]:
    """A server on 127.0.0.1; with ``tls`` it requires STARTTLS, with ``login`` AUTH (over TLS)."""
    inbox = Inbox()
    port = free_port()
    extra: dict[str, Any] = {}
    if tls is not None:
        extra.update(tls_context=tls, require_starttls=True)
    if login is not None:
        extra.update(authenticator=login, auth_required=True, auth_require_tls=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **extra)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
