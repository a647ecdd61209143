"""The supervisor's HTTP on the wire, over raw sockets to a real supervisor.

Task adds and worker reports and pulls are served by the ASGI fast path (server/fastpath.py),
which hands what it will not answer (no token, a body that does not validate) to the app's
route. What is checked here: the answers are well-formed HTTP/1.1, pipelined requests are
answered in order whichever path each takes, keep-alive and ``connection: close`` are kept,
and a request sent with a content-length gets exactly the answer the same request gets sent
chunked, a big body and ``expect: 100-continue`` included.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client

TASK = {"target": "tasks_app:add", "params": [1, 2]}
MAX_BODY = 256 * 1024  # a body bigger than this arrives in many reads


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    data = tmp_path_factory.mktemp("lane") / "farm"
    with LocalFarm(workers=0, data_dir=data, grace=5.0) as f:
        yield f


@pytest.fixture(scope="module")
def worker_token(farm: LocalFarm) -> str:
    with farm.client() as admin:
        made: dict[str, Any] = admin.add_user("lane-workers", worker=True)
    return str(made["token"])


# the answer to a pull with nothing to do (no work, nothing to stop, suspend or resume)
IDLE = {"assignments": [], "cancel": [], "suspend": [], "resume": []}


def connect(farm: LocalFarm) -> socket.socket:
    host, port = farm.url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    return sock


def request(
    path: str, body: bytes | None = None, *, token: str | None, method: str = "POST",
    headers: dict[str, str] | None = None, chunked: bool = False, version: str = "1.1",
) -> bytes:  # fmt: skip
    lines = [f"{method} {path} HTTP/{version}", "Host: test"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    payload = b""
    if body is not None:
        lines.append("Content-Type: application/json")
        if chunked:
            lines.append("Transfer-Encoding: chunked")
            half = len(body) // 2
            for part in (body[:half], body[half:]):
                if part:
                    payload += f"{len(part):x}\r\n".encode() + part + b"\r\n"
            payload += b"0\r\n\r\n"
        else:
            lines.append(f"Content-Length: {len(body)}")
            payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class Reader:
    """HTTP/1.1 answers read off one socket, one after another."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"connection closed mid-answer: {self.buf!r}"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        version, status, _ = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"header {name} twice: {head!r}"
            headers[name.lower()] = value.strip()
        n = int(headers["content-length"])  # every answer here has one
        while len(self.buf) < n:
            assert self._fill(), "connection closed mid-body"
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(status), headers, body

    def closed(self) -> bool:
        """The server closed the connection (after what was read)."""
        return self.buf == b"" and not self._fill()


def one(farm: LocalFarm, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(farm) as sock:
        sock.sendall(raw)
        return Reader(sock).answer()


def dump(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_task_adds_on_one_kept_alive_connection(farm: LocalFarm) -> None:
    with connect(farm) as sock, farm.client() as admin:
        r = Reader(sock)
        ids = []
        for _ in range(3):
            sock.sendall(request("/api/v1/tasks", dump(TASK), token=farm.token))
            status, headers, body = r.answer()
            assert status == 201, body
            assert headers["content-type"] == "application/json"
            assert "date" in headers and "server" in headers  # as uvicorn's own answers
            assert "connection" not in headers  # kept alive
            doc = json.loads(body)
            assert doc["target"] == "tasks_app:add" and doc["status"] == "pending"
            ids.append(doc["id"])
        assert ids == sorted(ids) and len(set(ids)) == 3
        for job_id in ids:  # committed before the answer
            assert admin.job(job_id)["prototype"] == "task"


def test_pipelined_requests_are_answered_in_order_whichever_path_each_takes(
    farm: LocalFarm,
) -> None:
    t = farm.token
    reqs = [
        request("/api/v1/tasks", dump(TASK), token=t),  # lane
        request("/api/v1/jobs?limit=1", token=t, method="GET"),  # app
        request("/api/v1/tasks", dump(TASK), token=t),  # lane, behind the app's answer
        request("/api/v1/tasks", dump(TASK), token=t, chunked=True),  # app
        request("/api/v1/tasks", b"{not json", token=t),  # lane, handed to the app: 422
        request("/api/v1/tasks", dump(TASK), token=t),  # lane
    ]
    with connect(farm) as sock:
        sock.sendall(b"".join(reqs))  # all at once: one read may hold several requests
        r = Reader(sock)
        answers = [r.answer() for _ in reqs]
    statuses = [a[0] for a in answers]
    assert statuses == [201, 200, 201, 201, 422, 201], answers
    ids = [json.loads(a[2])["id"] for a in answers if a[0] == 201]
    assert ids == sorted(ids) and len(set(ids)) == 4  # in the order they were sent
    assert "jobs" in json.loads(answers[1][2])  # the app's answer, in its place


def test_connection_close_and_http_1_0_end_the_connection(farm: LocalFarm) -> None:
    for raw in (
        request("/api/v1/tasks", dump(TASK), token=farm.token, headers={"Connection": "close"}),
        request("/api/v1/tasks", dump(TASK), token=farm.token, version="1.0"),
    ):
        with connect(farm) as sock:
            sock.sendall(raw)
            r = Reader(sock)
            status, headers, _ = r.answer()
            assert status == 201
            assert headers.get("connection") == "close"
            assert r.closed()


def test_a_refused_request_gets_the_same_answer_however_its_body_is_sent(
    farm: LocalFarm, worker_token: str
) -> None:
    """Each request twice, with a content-length and chunked: the same status and the same
    body."""
    nan_task = dump({**TASK, "params": {"a": [1, float("nan")]}})
    cases = [
        ("/api/v1/tasks", dump(TASK), None),  # no token: 401
        ("/api/v1/tasks", dump(TASK), "not-a-known-token"),  # 401
        ("/api/v1/tasks", b"{not json", farm.token),  # 422
        ("/api/v1/tasks", dump({**TASK, "target": "no colon"}), farm.token),  # 422
        ("/api/v1/tasks", dump({**TASK, "retries": -1}), farm.token),  # 422
        # Python's json writes and reads NaN; JSON has none: 422 naming the task's field
        ("/api/v1/tasks", nan_task, farm.token),
        ("/api/v1/tasks", dump(TASK), worker_token),  # a worker may not submit: 403
        ("/api/v1/workers/nosuchhost/report", dump({"session": "x", "reports": []}), worker_token),
        ("/api/v1/workers/h/report", dump({"session": "x"}), worker_token),  # 422
        ("/api/v1/workers/h/report", dump({"session": "x", "reports": []}), farm.token),
    ]
    with farm.client() as admin:
        before = (admin.jobs(limit=100_000), admin.events(limit=10_000))
        for path, body, token in cases:
            lane = one(farm, request(path, body, token=token))
            app = one(farm, request(path, body, token=token, chunked=True))
            assert lane[0] >= 400, (path, body, lane)
            assert (lane[0], json.loads(lane[2])) == (app[0], json.loads(app[2])), (path, body)
            assert set(json.loads(lane[2])) == {"error"}, lane
        nan = one(farm, request("/api/v1/tasks", nan_task, token=farm.token))
        assert json.loads(nan[2])["error"]["field"] == "params.a[1]"
        many = dump({"tasks": [TASK, {**TASK, "params": {"a": float("inf")}}]})
        refused = one(farm, request("/api/v1/tasks/many", many, token=farm.token))
        assert refused[0] == 422 and json.loads(refused[2])["error"]["field"] == "tasks[1].params.a"
        # refused, so nothing of them is stored: no job, no event
        assert (admin.jobs(limit=100_000), admin.events(limit=10_000)) == before


def test_a_report_for_an_unknown_host_is_refused_by_the_engine(
    farm: LocalFarm, worker_token: str
) -> None:
    """Well-formed and allowed: the fast path runs the command, and the engine's refusal is the
    answer (the same as through the app)."""
    body = dump({"session": "abc", "reports": [{"token": "t1", "status": "complete"}]})
    path = "/api/v1/workers/ghost/report"
    status, _, out = one(farm, request(path, body, token=worker_token))
    assert status == 410, out
    err = json.loads(out)["error"]
    assert err["code"] == "session_gone" and "ghost" in err["message"]
    app = one(farm, request(path, body, token=worker_token, chunked=True))
    assert (app[0], json.loads(app[2])) == (status, json.loads(out))


def test_a_big_body_and_expect_continue_take_the_apps_path_and_work(farm: LocalFarm) -> None:
    big = {**TASK, "params": ["x" * (MAX_BODY + 10)]}
    status, _, out = one(farm, request("/api/v1/tasks", dump(big), token=farm.token))
    assert status == 201, out[:300]
    with connect(farm) as sock:
        head = request("/api/v1/tasks", dump(TASK), token=farm.token,
                       headers={"Expect": "100-continue"})  # fmt: skip
        head_only, payload = head.split(b"\r\n\r\n", 1)
        sock.sendall(head_only + b"\r\n\r\n")
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(1000)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(payload)
        status, _, out = Reader(sock).answer()
        assert status == 201, out


def test_an_add_whose_client_left_before_the_answer_is_kept(farm: LocalFarm) -> None:
    """Sent whole, then the connection closed: the task was accepted, so it is stored; the
    supervisor goes on serving."""
    name = f"left-{time.monotonic_ns()}"
    with connect(farm) as sock:
        sock.sendall(request("/api/v1/tasks", dump({**TASK, "name": name}), token=farm.token))
    with farm.client() as admin:
        deadline = time.monotonic() + 10
        while True:
            found = [j for j in admin.jobs(limit=100_000) if j["name"] == name]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(found) == 1
        assert admin.add_task(TASK)["status"] == "pending"


def test_the_client_library_gets_the_same_answers(farm: LocalFarm) -> None:
    with Client(farm.url, token=farm.token) as c:
        got = c.add_task({**TASK, "params": [3, 4]})
        assert got["target"] == "tasks_app:add" and got["status"] == "pending"
        assert c.job(got["id"])["name"] == "tasks_app:add"


def test_an_idle_workers_long_poll_is_answered_when_a_task_comes(tmp_path: Path) -> None:
    """A pull that waits is woken by the add of a task and answered with it; its refusals are
    the app's."""
    with LocalFarm(workers=0, data_dir=tmp_path / "farm", grace=5.0) as farm:
        with farm.client() as admin:
            token = str(admin.add_user("poll-workers", worker=True)["token"])
        reg = one(farm, request("/api/v1/workers/register",
                                dump({"name": "lanehost", "slots": 1}), token=token))  # fmt: skip
        assert reg[0] == 200, reg
        session = json.loads(reg[2])["session"]
        path = "/api/v1/workers/lanehost/pull"
        status, _, out = one(farm, request(path, dump({"session": session, "wait": 0}),
                                           token=token))  # fmt: skip
        assert (status, json.loads(out)) == (200, IDLE)
        with connect(farm) as waiting:
            waiting.sendall(request(path, dump({"session": session, "wait": 30}), token=token))
            time.sleep(0.3)  # the pull runs, finds nothing and waits
            added = one(farm, request("/api/v1/tasks", dump(TASK), token=farm.token))
            assert added[0] == 201
            status, _, out = Reader(waiting).answer()
        assert status == 200
        [assignment] = json.loads(out)["assignments"]
        assert assignment["job"] == json.loads(added[2])["id"]
        for body in (dump({"session": "stale", "wait": 0}), dump({"session": session, "wait": 99})):
            lane = one(farm, request(path, body, token=token))
            app = one(farm, request(path, body, token=token, chunked=True))
            assert lane[0] in (410, 422), lane
            assert (lane[0], json.loads(lane[2])) == (app[0], json.loads(app[2]))


def test_a_parked_pull_times_out_replaced_or_at_stop_and_its_work_is_not_lost(
    tmp_path: Path,
) -> None:
    """A pull that waits is parked in the engine. When its time is up it is taken back and
    answered empty, and a task added afterwards waits for the next pull; a second pull of the
    host lets the first one go; stopping the supervisor answers the one still parked."""
    farm = LocalFarm(workers=0, data_dir=tmp_path / "farm", grace=10.0).start()
    try:
        with farm.client() as admin:
            token = str(admin.add_user("park-workers", worker=True)["token"])
        reg = one(farm, request("/api/v1/workers/register",
                                dump({"name": "parkhost", "slots": 1}), token=token))  # fmt: skip
        session = json.loads(reg[2])["session"]
        path = "/api/v1/workers/parkhost/pull"
        began = time.monotonic()
        status, _, out = one(farm, request(path, dump({"session": session, "wait": 0.5}),
                                           token=token))  # fmt: skip
        assert time.monotonic() - began >= 0.45
        assert (status, json.loads(out)) == (200, IDLE)
        added = one(farm, request("/api/v1/tasks", dump(TASK), token=farm.token))
        job_id = json.loads(added[2])["id"]
        with farm.client() as c:
            assert c.job(job_id)["status"] == "pending"  # nobody took it: no pull was parked
        got = one(farm, request(path, dump({"session": session, "wait": 0}), token=token))
        [assignment] = json.loads(got[2])["assignments"]
        assert assignment["job"] == job_id
        listed = {"session": session, "running": [assignment["token"]], "wait": 30}
        with connect(farm) as first, connect(farm) as second:
            first.sendall(request(path, dump(listed), token=token))
            time.sleep(0.3)  # parked
            second.sendall(request(path, dump(listed), token=token))
            status, _, out = Reader(first).answer()  # let go at once, not after 30 s
            assert (status, json.loads(out)) == (200, IDLE)
            time.sleep(0.3)
            began = time.monotonic()
            farm.stop()
            status, _, out = Reader(second).answer()
            assert time.monotonic() - began < 10
            assert (status, json.loads(out)) == (200, IDLE)
    finally:
        farm.stop()
