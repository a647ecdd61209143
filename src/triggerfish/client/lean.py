"""A lean keep-alive JSON POST for the client's hot calls (adding tasks), on a plain socket.

Through httpx a small POST costs the client about 2 ms of CPU here, several times what the
request needs; an application adding tasks one by one pays that for every task. ``LeanPost``
keeps a few idle keep-alive connections (one per thread using it at a time), sends a request
with its body in one write (``http.client`` sends the head and the body in two, so the server
may wake twice) and reads the answer with httptools' parser (llhttp, as uvicorn's server does).
Errors are ``OSError`` or
``http.client.HTTPException``, as from ``http.client``. Only for ``http://`` URLs without a
proxy; the client uses httpx for everything else.

A POST is never sent twice: a connection is reused only while it is young (below the
server's keep-alive timeout) and the server has not closed it (nothing to read on it), and a
failure after the request went out is raised, not retried, since the supervisor may have
committed it.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time
import urllib.request
from urllib.parse import urlsplit

import httptools

IDLE_LIMIT = 4.0  # seconds; uvicorn closes idle keep-alive connections after 5
MAX_IDLE = 8
RECV_SIZE = 65536


class _Answer:
    """What httptools' parser tells of one answer (its callbacks)."""

    __slots__ = ("body", "done", "keep", "parser")

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.done = False
        self.keep = False
        self.parser = httptools.HttpResponseParser(self)

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.done = True
        self.keep = self.parser.should_keep_alive()  # (reset once feed_data returns)


class _Conn:
    __slots__ = ("idle_since", "sock")

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.idle_since = time.monotonic()

    def usable(self) -> bool:
        """Young enough, and the server has not closed it (EOF would make it readable)."""
        if time.monotonic() - self.idle_since > IDLE_LIMIT:
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        self.sock.close()

    def exchange(self, request: bytes, timeout: float) -> tuple[int, bytes, bool]:
        """Send ``request``; the answer's status, body, and whether the server keeps the
        connection open. The answer is parsed by httptools (llhttp, as uvicorn's server)."""
        self.sock.settimeout(timeout)
        self.sock.sendall(request)
        answer = _Answer()
        parser = answer.parser
        while True:
            data = self.sock.recv(RECV_SIZE)
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise http.client.HTTPException(f"bad answer from the server: {exc}") from None
            if not data and not answer.done:
                raise http.client.RemoteDisconnected(
                    "the server closed the connection without a whole answer"
                )
            if answer.done:
                status = parser.get_status_code()
                if status >= 200:
                    return status, b"".join(answer.body), answer.keep
                answer.done = False  # an interim (1xx) answer: the real one follows
                answer.body.clear()


def usable_for(url: str) -> bool:
    """``http://`` and no proxy configured for it (httpx would use the proxy)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    proxies = urllib.request.getproxies()
    if not (proxies.get("http") or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname))


class LeanPost:
    """POST JSON bytes to one ``http://`` server; thread-safe (a connection per caller)."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.base = parts.path.rstrip("/")
        self.timeout = timeout
        netloc = self.host if ":" not in self.host else f"[{self.host}]"
        if self.port != 80:
            netloc += f":{self.port}"
        lines = [f"Host: {netloc}", "Accept-Encoding: identity"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-type"]
        lines.append("Content-Type: application/json")
        self._head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self._idle: list[_Conn] = []
        self._lock = threading.Lock()

    def _take(self, timeout: float) -> _Conn:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return _Conn(self.host, self.port, timeout)
            if conn.usable():
                return conn
            conn.close()

    def _give(self, conn: _Conn) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def post(self, path: str, body: bytes, timeout: float | None = None) -> tuple[int, bytes]:
        """Status and body of the answer; OSError or http.client.HTTPException on failure."""
        wait = self.timeout if timeout is None else timeout
        request = b"".join([
            b"POST ", (self.base + path).encode("ascii"), b" HTTP/1.1\r\n", self._head,
            b"Content-Length: ", str(len(body)).encode(), b"\r\n\r\n", body,
        ])  # fmt: skip
        conn = self._take(wait)
        try:
            status, data, keep = conn.exchange(request, wait)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._give(conn)
        else:
            conn.close()
        return status, data

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
