"""A lean keep-alive JSON POST for the client's hot calls (adding tasks), on ``http.client``.

Through httpx a small POST costs the client about 2 ms of CPU here, several times what the
request needs; an application adding tasks one by one pays that for every task. ``LeanPost``
keeps a few idle ``http.client`` connections (one per thread using it at a time) and sends a
request with its body in one write. Only for ``http://`` URLs without a proxy; the client uses
httpx for everything else.

A POST is never sent twice: a connection is reused only while it is young (below the
server's keep-alive timeout) and the server has not closed it (nothing to read on it), and a
failure after the request went out is raised, not retried, since the supervisor may have
committed it.
"""

from __future__ import annotations

import http.client
import select
import threading
import time
import urllib.request
from urllib.parse import urlsplit

IDLE_LIMIT = 4.0  # seconds; uvicorn closes idle keep-alive connections after 5
MAX_IDLE = 8


class _Conn:
    __slots__ = ("http", "idle_since")

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.http = conn
        self.idle_since = time.monotonic()

    def usable(self) -> bool:
        """Young enough, and the server has not closed it (EOF would make it readable)."""
        if time.monotonic() - self.idle_since > IDLE_LIMIT:
            return False
        sock = self.http.sock
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


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
        self.headers = {**headers, "Content-Type": "application/json"}
        self.timeout = timeout
        self._idle: list[_Conn] = []
        self._lock = threading.Lock()

    def _take(self) -> _Conn:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return _Conn(http.client.HTTPConnection(self.host, self.port, timeout=self.timeout))
            if conn.usable():
                return conn
            conn.http.close()

    def _give(self, conn: _Conn) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.http.close()

    def post(self, path: str, body: bytes, timeout: float | None = None) -> tuple[int, bytes]:
        """Status and body of the answer; OSError or http.client.HTTPException on failure."""
        conn = self._take()
        try:
            if conn.http.sock is not None:
                conn.http.sock.settimeout(self.timeout if timeout is None else timeout)
            else:
                conn.http.timeout = self.timeout if timeout is None else timeout
            conn.http.request("POST", self.base + path, body=body, headers=self.headers)
            resp = conn.http.getresponse()
            data = resp.read()
        except BaseException:
            conn.http.close()
            raise
        if resp.will_close:
            conn.http.close()
        else:
            self._give(conn)
        return resp.status, data

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.http.close()
