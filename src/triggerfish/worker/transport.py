"""A lean HTTP/1.1 keep-alive transport for ``httpx.AsyncClient`` on plain asyncio streams.

httpx's default transport (httpcore over anyio) costs about ten times the CPU of the request
itself; a worker sends two requests per frame, so it would spend more time talking than its
frames spend running. This transport does only what the worker needs over ``http://``: one
request per connection at a time, whole bodies (``Content-Length`` or chunked), idle
connections kept for ``keepalive_expiry`` seconds. ``https://`` goes to httpx's own transport.

Failures are raised as httpx's transport errors (``ConnectError``, ``ReadTimeout``, ...), so
that the client above cannot tell the difference.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import httpx

MAX_HEAD = 64 * 1024
MAX_IDLE = 8


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    def close(self) -> None:
        self.writer.close()


class _Stale(Exception):
    """A reused connection that the server had closed before our request reached it."""


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None, float | None]:
    t: dict[str, Any] = request.extensions.get("timeout", {})
    return t.get("connect"), t.get("write"), t.get("read")


def _parse_head(head: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise httpx.RemoteProtocolError(f"malformed status line {lines[0][:80]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise httpx.RemoteProtocolError(f"malformed status line {lines[0][:80]!r}") from None
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}")
        headers.append((name.strip(), value.strip()))
    return status, parts[2] if len(parts) > 2 else b"", headers


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise httpx.RemoteProtocolError(f"malformed chunk size {size_line[:40]!r}") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """Plain-HTTP/1.1 transport with a small pool of keep-alive connections."""

    def __init__(self, *, keepalive_expiry: float = 4.0) -> None:
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._fallback: httpx.AsyncHTTPTransport | None = None
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            if self._fallback is None:
                self._fallback = httpx.AsyncHTTPTransport()
            return await self._fallback.handle_async_request(request)
        body = await request.aread()
        data = self._serialize(request, body)
        key = (request.url.host, request.url.port or 80)
        status, reason, headers, content = await self.roundtrip(
            key, data, request.method, _timeouts(request), request
        )
        return httpx.Response(
            status,
            headers=headers,
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def roundtrip(
        self,
        key: tuple[str, int],
        data: bytes,
        method: str,
        timeouts: tuple[float | None, float | None, float | None],
        request: httpx.Request | None = None,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        """Send the serialized request ``data`` to ``key`` (host, port); status, reason,
        headers and body of the answer. Errors are httpx's (``request`` goes into them)."""
        conn = self._take_idle(key)
        if conn is not None:
            try:
                return await self._exchange(conn, data, method, key, timeouts, request, True)
            except _Stale:
                pass  # the server closed it while idle: the request never reached it
        conn = await self._connect(key, timeouts[0], request)
        try:
            return await self._exchange(conn, data, method, key, timeouts, request, False)
        except _Stale as exc:
            raise httpx.RemoteProtocolError(
                "server disconnected without sending a response", request=request
            ) from exc

    @staticmethod
    def _serialize(request: httpx.Request, body: bytes) -> bytes:
        target = request.url.raw_path
        head = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        has_host = False
        for name, value in request.headers.raw:
            if name.lower() == b"host":
                has_host = True
            head += [name, b": ", value, b"\r\n"]
        if not has_host:
            head += [b"host: ", request.url.netloc, b"\r\n"]
        head.append(b"\r\n")
        return b"".join(head) + body

    def _take_idle(self, key: tuple[str, int]) -> _Conn | None:
        pool = self._idle.get(key)
        now = time.monotonic()
        while pool:
            conn = pool.pop()
            if now - conn.idle_since < self.keepalive_expiry and not conn.reader.at_eof():
                return conn
            conn.close()
        return None

    async def _connect(
        self, key: tuple[str, int], connect_timeout: float | None, request: httpx.Request | None
    ) -> _Conn:
        try:
            async with asyncio.timeout(connect_timeout):
                reader, writer = await asyncio.open_connection(key[0], key[1], limit=MAX_HEAD)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {key[0]}:{key[1]}", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return _Conn(reader, writer)

    async def _exchange(
        self,
        conn: _Conn,
        data: bytes,
        method: str,
        key: tuple[str, int],
        timeouts: tuple[float | None, float | None, float | None],
        request: httpx.Request | None,
        reused: bool,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        _, write_timeout, read_timeout = timeouts
        keep = False
        got_bytes = False
        try:
            conn.writer.write(data)
            try:
                async with asyncio.timeout(write_timeout):
                    await conn.writer.drain()
            except TimeoutError as exc:
                raise httpx.WriteTimeout("writing the request", request=request) from exc
            try:
                async with asyncio.timeout(read_timeout):
                    first = await conn.reader.read(1)
                    if not first:
                        raise (
                            _Stale()
                            if reused
                            else httpx.RemoteProtocolError(
                                "server disconnected without sending a response", request=request
                            )
                        )
                    got_bytes = True
                    head = first + await conn.reader.readuntil(b"\r\n\r\n")
                    status, reason, headers = _parse_head(head[:-4])
                    body, keep = await self._read_body(conn.reader, method, status, headers)
            except TimeoutError as exc:
                raise httpx.ReadTimeout("waiting for the response", request=request) from exc
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            if reused and not got_bytes and isinstance(exc, ConnectionError):
                raise _Stale() from exc
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        finally:
            if not keep:
                conn.close()
        if keep:
            self._release(key, conn)
        return status, reason, headers, body

    @staticmethod
    async def _read_body(
        reader: asyncio.StreamReader,
        method: str,
        status: int,
        headers: list[tuple[bytes, bytes]],
    ) -> tuple[bytes, bool]:
        """The body, and whether the connection may be used again."""
        keep = (_header(headers, b"connection") or b"").lower() != b"close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b"", keep
        encoding = (_header(headers, b"transfer-encoding") or b"").lower()
        if b"chunked" in encoding:
            return await _read_chunked(reader), keep
        length = _header(headers, b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise httpx.RemoteProtocolError(f"bad content-length {length!r}") from None
            return await reader.readexactly(n), keep
        return await reader.read(), False  # delimited by the end of the connection

    def _release(self, key: tuple[str, int], conn: _Conn) -> None:
        pool = self._idle.setdefault(key, [])
        if self._closed or len(pool) >= MAX_IDLE:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        pool.append(conn)

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._idle.values():
            for conn in pool:
                conn.close()
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.aclose()


class LeanAsyncClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` whose plain ``post(path, content=, timeout=)`` over a
    :class:`KeepAliveTransport` skips httpx's request and response machinery (URL merging,
    header and cookie handling, auth and redirect flows, event hooks), which costs a worker
    more than the request itself. The answer is an ``httpx.Response`` as before (without its
    ``request``); every other call, and every other transport, goes through httpx."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any):
        super().__init__(transport=transport, **kwargs)
        base = self.base_url
        self._lean = (
            transport
            if isinstance(transport, KeepAliveTransport) and base.scheme == "http"
            else None
        )
        self._key = (base.host, base.port or 80)
        self._prefix = base.raw_path.rstrip(b"/")
        lines = [b"host: " + base.netloc + b"\r\n"]
        lines += [k + b": " + v + b"\r\n" for k, v in self.headers.raw if k.lower() != b"host"]
        self._head = b"".join(lines)

    async def post(
        self, url: httpx.URL | str, *, content: Any = None, timeout: Any = None, **kwargs: Any
    ) -> httpx.Response:
        got = await self._lean_post(url, content, timeout, kwargs)
        if isinstance(got, httpx.Response):
            return got
        status, reason, headers, answer = got
        return httpx.Response(
            status, headers=headers, content=answer,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )  # fmt: skip

    async def post_ok(
        self, url: httpx.URL | str, *, content: Any = None, timeout: Any = None, **kwargs: Any
    ) -> bytes | httpx.Response:
        """:meth:`post`, but a success (2xx) on the lean path is answered with its body alone
        (no ``httpx.Response`` made for it); any other answer is an ``httpx.Response``."""
        got = await self._lean_post(url, content, timeout, kwargs)
        if isinstance(got, httpx.Response):
            return got
        status, reason, headers, answer = got
        if 200 <= status < 300:
            return answer
        return httpx.Response(
            status, headers=headers, content=answer,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )  # fmt: skip

    async def _lean_post(
        self, url: httpx.URL | str, content: Any, timeout: Any, kwargs: dict[str, Any]
    ) -> httpx.Response | tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        plain = (
            isinstance(url, str)
            and url.startswith("/")
            and url.isascii()
            and isinstance(content, str | bytes)
        )
        if self._lean is None or kwargs or not plain:
            if timeout is not None:
                kwargs["timeout"] = timeout
            return await super().post(url, content=content, **kwargs)
        body = content.encode() if isinstance(content, str) else content
        t = self.timeout if timeout is None else httpx.Timeout(timeout)
        data = b"".join([
            b"POST ", self._prefix, str(url).encode("ascii"), b" HTTP/1.1\r\n", self._head,
            b"content-length: ", str(len(body)).encode(), b"\r\n\r\n", body,
        ])  # fmt: skip
        return await self._lean.roundtrip(self._key, data, "POST", (t.connect, t.write, t.read))
