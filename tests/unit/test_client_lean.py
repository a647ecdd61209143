"""The client's lean POST (adding tasks) against a real HTTP server on a real socket."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from triggerfish.client import Client, ClientError


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.bodies: list[Any] = []
        self.connections = 0
        self.mode = "ok"  # ok | close-after | drop (read the request, answer nothing)
        self.closed = threading.Event()  # set each time the server has closed a connection

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append((self.path, self.headers["Authorization"], body))
        if self.server.mode == "drop":
            self.close_connection = True
            return
        out = json.dumps({"id": len(self.server.bodies), "target": "m:f", "status": "pending"})
        status = 422 if body.get("target") == "bad" else 201
        if status == 422:
            out = json.dumps(
                {"error": {"code": "invalid", "message": "target: no", "field": "target"}}
            )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()  # no "Connection: close", even when closing: the client must notice
        self.wfile.write(out.encode())
        if self.server.mode == "close-after":
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_adds_share_one_connection(server: Server) -> None:
    with Client(server.url, token="tf_x") as c:
        ids = [c.add_task({"target": "m:f", "params": i})["id"] for i in range(5)]
    assert ids == [1, 2, 3, 4, 5] and server.connections == 1
    assert server.bodies[0] == ("/api/v1/tasks", "Bearer tf_x", {"target": "m:f", "params": 0})


def test_a_connection_the_server_closed_is_not_reused(server: Server) -> None:
    server.mode = "close-after"
    ids = []
    with Client(server.url, token="tf_x") as c:
        for i in range(3):
            server.closed.clear()
            ids.append(c.add_task({"target": "m:f", "params": i})["id"])
            assert server.closed.wait(10)  # closed while idle, as after a keep-alive timeout
    assert ids == [1, 2, 3] and len(server.bodies) == 3 and server.connections == 3


def test_errors_carry_the_servers_message(server: Server) -> None:
    with Client(server.url, token="tf_x") as c, pytest.raises(ClientError) as err:
        c.add_task({"target": "bad"})
    assert (err.value.status, err.value.field, err.value.message) == (422, "target", "target: no")


def test_a_post_without_an_answer_fails_and_is_not_sent_again(server: Server) -> None:
    server.mode = "drop"
    with Client(server.url, token="tf_x") as c, pytest.raises(ClientError, match="cannot reach"):
        c.add_task({"target": "m:f"})
    assert len(server.bodies) == 1


def _serve_raw(answers: list[bytes]) -> tuple[str, list[bytes], threading.Thread]:
    """A server on a real socket that reads one request per answer and writes the answer's
    bytes as they are (one connection; it closes after the last answer)."""
    listener = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            for answer in answers:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                while len(body) < length:
                    body += conn.recv(65536)
                got.append(head + b"\r\n\r\n" + body)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", got, thread


def test_the_lean_post_reads_chunked_and_interim_answers() -> None:
    answers = [
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
        b'5\r\n{"id"\r\n8;ext=1\r\n: 7, "st\r\n11\r\natus": "pending"}\r\n0\r\n\r\n',
        b'HTTP/1.1 201 Created\r\ncontent-length: 9\r\nconnection: close\r\n\r\n{"id": 8}',
    ]
    url, got, thread = _serve_raw(answers)
    with Client(url, token="tf_x") as c:
        assert c.add_task({"target": "m:f"}) == {"id": 7, "status": "pending"}
        assert c.add_task({"target": "m:g"}) == {"id": 8}  # the same connection, then closed
    thread.join(10)
    head, _, body = got[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/v1/tasks HTTP/1.1"
    assert b"Authorization: Bearer tf_x" in lines and b"Content-Type: application/json" in lines
    assert json.loads(body) == {"target": "m:f"} and len(got) == 2
