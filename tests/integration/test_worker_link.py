"""The worker's HTTP layer against raw socket servers: the lean transport and error mapping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from triggerfish.api.schemas import PullRequest, RegisterRequest, Report, ReportRequest
from triggerfish.worker.errors import ProtocolError, Rejected, SessionLost, SupervisorUnreachable
from triggerfish.worker.link import SupervisorLink
from triggerfish.worker.transport import KeepAliveTransport, LeanAsyncClient

pytestmark = pytest.mark.timeout(30)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


class Server:
    """A raw HTTP/1.1 server whose answers the test writes byte by byte."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[tuple[bytes, dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode().split("\r\n")
        headers = {
            k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((lines[0].encode(), headers, body))
        return body


def response(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


async def echo_forever(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
    while (body := await s.read_request(r)) is not None:
        w.write(response(b'{"echo": ' + json.dumps(body.decode()).encode() + b"}"))
        await w.drain()


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


# ---------------------------------------------------------------- the transport


def test_requests_share_one_keep_alive_connection() -> None:
    async def go() -> None:
        async with Server(echo_forever) as srv:
            async with httpx.AsyncClient(transport=KeepAliveTransport()) as client:
                for i in range(5):
                    resp = await client.post(f"{srv.url}/a/b%20c?q=1", content=f"body{i}")
                    assert resp.status_code == 200
                    assert resp.json() == {"echo": f"body{i}"}
            assert srv.connections == 1
            line, headers, _ = srv.requests[0]
            assert line == b"POST /a/b%20c?q=1 HTTP/1.1"
            assert headers["host"] == srv.url.removeprefix("http://")
            assert headers["content-length"] == "5"

    run(go())


def test_chunked_response() -> None:
    async def chunked(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while await s.read_request(r) is not None:
            w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            w.write(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n")
            await w.drain()

    async def go() -> None:
        async with Server(chunked) as srv:
            async with httpx.AsyncClient(transport=KeepAliveTransport()) as client:
                for _ in range(2):
                    assert (await client.get(srv.url)).text == "hello world"
            assert srv.connections == 1

    run(go())


def test_connection_close_is_honoured() -> None:
    async def once(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.read_request(r)
        w.write(response(b"{}", extra="connection: close\r\n"))
        await w.drain()

    async def go() -> None:
        async with Server(once) as srv:
            async with httpx.AsyncClient(transport=KeepAliveTransport()) as client:
                for _ in range(3):
                    assert (await client.get(srv.url)).json() == {}
            assert srv.connections == 3

    run(go())


def test_a_connection_the_server_dropped_while_idle_is_replaced() -> None:
    async def one_per_connection(
        r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server
    ) -> None:
        await s.read_request(r)
        w.write(response(b'{"n": %d}' % s.connections))  # no "connection: close": a surprise
        await w.drain()

    async def go() -> None:
        async with Server(one_per_connection) as srv:
            async with httpx.AsyncClient(transport=KeepAliveTransport()) as client:
                assert (await client.get(srv.url)).json() == {"n": 1}
                await asyncio.sleep(0.05)
                assert (await client.get(srv.url)).json() == {"n": 2}
            assert srv.connections == 2
            assert len(srv.requests) == 2  # the request was sent once, on the new connection

    run(go())


def test_refused_connection_is_a_connect_error() -> None:
    async def go() -> None:
        async with Server(echo_forever) as srv:
            url = srv.url
        await asyncio.sleep(0.05)
        async with httpx.AsyncClient(transport=KeepAliveTransport()) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(url)

    run(go())


def test_silence_is_a_read_timeout_and_a_cut_is_a_transport_error() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.read_request(r)
        await asyncio.sleep(5)

    async def cut(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await w.drain()

    async def go() -> None:
        async with httpx.AsyncClient(transport=KeepAliveTransport(), timeout=0.3) as client:
            async with Server(silent) as srv:
                with pytest.raises(httpx.ReadTimeout):
                    await client.get(srv.url)
            async with Server(cut) as srv:
                with pytest.raises(httpx.TransportError):
                    await client.get(srv.url)

    run(go())


# ---------------------------------------------------------------- the link's error mapping


def answering(raw: bytes) -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while await s.read_request(r) is not None:
            w.write(raw)
            await w.drain()

    return handler


PULL = PullRequest(session="s", running=["t1"], wait=0)
REPORT = ReportRequest(session="s", reports=[Report(token="t1", status="complete")])


@pytest.mark.parametrize("lean", [True, False])
@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (response(b'{"error": {"code": "session_gone", "message": "x"}}', "410 Gone"), SessionLost),
        (response(b"{}", "404 Not Found"), SessionLost),
        (response(b'{"error": {"message": "busy"}}', "503 Busy"), SupervisorUnreachable),
        (response(b"{}", "429 Too Many"), SupervisorUnreachable),
        (response(b'{"error": {"message": "bad token"}}', "401 Unauthorized"), Rejected),
        (response(b'{"error": {"message": "no"}}', "422 Unprocessable"), Rejected),
        (response(b'{"assignments": 3}'), ProtocolError),
    ],
)
def test_pull_errors(raw: bytes, error: type[Exception], lean: bool) -> None:
    async def go() -> None:
        async with (
            Server(answering(raw)) as srv,
            SupervisorLink(srv.url, lean_transport=lean) as link,
        ):
            with pytest.raises(error):
                await link.pull("h", PULL)

    run(go())


def test_register_404_is_a_refusal_not_a_lost_session() -> None:
    async def go() -> None:
        async with (
            Server(answering(response(b"{}", "404 Not Found"))) as srv,
            SupervisorLink(srv.url) as link,
        ):
            with pytest.raises(Rejected) as info:
                await link.register(RegisterRequest(name="h", slots=1))
            assert info.value.status == 404

    run(go())


def test_requests_carry_the_protocol_body_and_the_token() -> None:
    async def go() -> None:
        ok = response(b'{"accepted": ["t1"], "ignored": []}')
        async with Server(answering(ok)) as srv:
            async with SupervisorLink(srv.url, token="tok") as link:
                resp = await link.report("host/with space", REPORT)
                assert resp.accepted == ["t1"]
            line, headers, body = srv.requests[0]
            assert line == b"POST /api/v1/workers/host%2Fwith%20space/report HTTP/1.1"
            assert headers["authorization"] == "Bearer tok"
            assert headers["content-type"] == "application/json"
            assert ReportRequest.model_validate_json(body) == REPORT

    run(go())


def test_unreachable_supervisor() -> None:
    async def go() -> None:
        async with SupervisorLink("http://127.0.0.1:1", connect_timeout=1.0) as link:
            with pytest.raises(SupervisorUnreachable):
                await link.pull("h", PULL)

    run(go())


def test_lean_client_posts_share_a_connection_and_other_calls_go_through_httpx() -> None:
    async def go() -> None:
        async with Server(echo_forever) as srv:
            async with LeanAsyncClient(
                base_url=f"{srv.url}/api/v1/workers", headers={"authorization": "Bearer t"},
                transport=KeepAliveTransport(),
            ) as client:  # fmt: skip
                for i in range(3):
                    resp = await client.post("/h/report", content=f"body{i}", timeout=5.0)
                    assert (resp.status_code, resp.json()) == (200, {"echo": f"body{i}"})
                other = await client.post("/h/log", content=b"x", params={"q": "1"})
                assert other.json() == {"echo": "x"}
            assert srv.connections == 1
            lines = [line for line, _, _ in srv.requests]
            assert lines == [b"POST /api/v1/workers/h/report HTTP/1.1"] * 3 + [
                b"POST /api/v1/workers/h/log?q=1 HTTP/1.1"
            ]
            _, headers, _ = srv.requests[0]
            assert headers["host"] == srv.url.removeprefix("http://")
            assert (headers["authorization"], headers["content-length"]) == ("Bearer t", "5")

    run(go())
