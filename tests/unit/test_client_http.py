"""The client's requests and its reading of answers, against httpx's MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from triggerfish.client import Client, ClientError
from triggerfish.errors import TriggerfishError

Handler = Callable[[httpx.Request], httpx.Response]


def make(handler: Handler, **kwargs: Any) -> Client:
    return Client("http://farm:1234/", transport=httpx.MockTransport(handler), **kwargs)


def test_url_from_argument_environment_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIGGERFISH_URL", raising=False)
    assert Client().url == "http://127.0.0.1:8765"
    monkeypatch.setenv("TRIGGERFISH_URL", "http://env:1/")
    assert Client().url == "http://env:1"
    assert Client("http://arg:2").url == "http://arg:2"


def test_token_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[str | None] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.headers.get("authorization"))
        return httpx.Response(200, json={"hosts": []})

    monkeypatch.setenv("TRIGGERFISH_DATA_DIR", str(tmp_path))
    (tmp_path / "admin.token").write_text("from-file\n")
    monkeypatch.setenv("TRIGGERFISH_TOKEN", "from-env")
    make(handler).hosts()
    make(handler, token="explicit").hosts()
    monkeypatch.delenv("TRIGGERFISH_TOKEN")
    local = "http://127.0.0.1:1234"
    Client(local, transport=httpx.MockTransport(handler)).hosts()  # the data dir's admin.token
    Client(local, data_dir=tmp_path / "elsewhere", transport=httpx.MockTransport(handler)).hosts()
    make(handler).hosts()  # never the local admin token to another host
    assert seen == ["Bearer from-env", "Bearer explicit", "Bearer from-file", None, None]


def test_submit_sends_a_list_and_keeps_warnings() -> None:
    bodies: list[Any] = []

    def handler(req: httpx.Request) -> httpx.Response:
        assert (req.method, req.url.path) == ("POST", "/api/v1/jobs")
        bodies.append(json.loads(req.content))
        jobs = [{"id": 7, "label": "job7", "pgrp": 7, "status": "pending", "name": "a"}]
        return httpx.Response(201, json={"jobs": jobs, "warnings": ["cpus capped"]})

    with make(handler) as client:
        out = client.submit({"name": "a", "package": {"cmdline": "true"}})
    assert bodies == [[{"name": "a", "package": {"cmdline": "true"}}]]
    assert out[0]["id"] == 7
    assert client.last_warnings == ["cpus capped"]


def test_jobs_filters_become_query_parameters() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        assert dict(req.url.params) == {"status": "running,pending", "pgrp": "3", "limit": "5"}
        return httpx.Response(200, json={"jobs": [{"id": 3}]})

    assert make(handler).jobs(status=["running", "pending"], pgrp=3, limit=5) == [{"id": 3}]


def test_job_work_and_logs_paths() -> None:
    paths: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        paths.append(f"{req.url.raw_path.decode()}")
        if req.url.path.endswith("/log"):
            return httpx.Response(200, text="frame 5\n")
        return httpx.Response(200, json={"id": 1})

    client = make(handler)
    client.job(1, agenda=False)
    client.work(1, "1-10")
    client.work(1, "a/b")
    assert client.log(1, "5", "stderr") == "frame 5\n"
    assert client.subjob_log(1, 0) == "frame 5\n"
    assert paths == [
        "/api/v1/jobs/1?agenda=false",
        "/api/v1/jobs/1/work/1-10",
        "/api/v1/jobs/1/work/a%2Fb",
        "/api/v1/jobs/1/work/5/log?stream=stderr",
        "/api/v1/jobs/1/subjobs/0/log?stream=stdout",
    ]


def test_control_verbs_post_targets_as_strings() -> None:
    bodies: list[Any] = []

    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/api/v1/control"
        body = json.loads(req.content)
        bodies.append(body)
        results = [{"target": t, "status": "killed"} for t in body["targets"]]
        return httpx.Response(200, json={"results": results})

    client = make(handler)
    assert client.kill(12, "12.0", "12:1-10") == [
        {"target": "12", "status": "killed"},
        {"target": "12.0", "status": "killed"},
        {"target": "12:1-10", "status": "killed"},
    ]
    client.modify(12, priority=5, notes="x")
    assert bodies[0] == {"action": "kill", "targets": ["12", "12.0", "12:1-10"]}
    assert bodies[1] == {
        "action": "modify",
        "targets": ["12"],
        "fields": {"priority": 5, "notes": "x"},
    }


def test_bad_targets_are_refused_before_sending() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    client = make(handler)
    for bad in ("x", "12.", "12:", "-1", "1.2.3"):
        with pytest.raises(TriggerfishError, match="target"):
            client.block(bad)
    with pytest.raises(ClientError):
        client.kill()
    with pytest.raises(ClientError):
        client.modify(3)


def test_error_envelope_carries_the_servers_message() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        err = {"code": "not_found", "message": "job 99 does not exist", "field": "id"}
        return httpx.Response(404, json={"error": err})

    with pytest.raises(ClientError) as info:
        make(handler).job(99)
    assert info.value.message == "job 99 does not exist"
    assert info.value.status == 404
    assert info.value.field == "id"
    assert info.value.details["code"] == "not_found"


def test_fastapi_validation_detail_becomes_readable() -> None:
    detail = [
        {"loc": ["query", "limit"], "msg": "Input should be greater than 0", "type": "x"},
        {"loc": ["body", 0, "priority"], "msg": "Input should be a valid integer", "type": "y"},
    ]

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": detail})

    with pytest.raises(ClientError) as info:
        make(handler).jobs(limit=0)
    assert info.value.message == (
        "query.limit: Input should be greater than 0; "
        "body[0].priority: Input should be a valid integer"
    )
    assert info.value.status == 422


def test_fastapi_string_detail_and_non_json_errors() -> None:
    answers = iter(
        [
            httpx.Response(404, json={"detail": "Not Found"}),
            httpx.Response(502, text="<html>bad gateway</html>"),
        ]
    )
    client = make(lambda req: next(answers))
    with pytest.raises(ClientError, match=r"^Not Found$"):
        client.hosts()
    with pytest.raises(ClientError, match=r"HTTP 502 Bad Gateway .*bad gateway"):
        client.hosts()


def test_unreachable_supervisor_is_a_client_error() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    with pytest.raises(ClientError, match="cannot reach the supervisor at http://farm:1234"):
        make(handler).hosts()


def test_answer_that_is_not_json() -> None:
    with pytest.raises(ClientError, match="not JSON"):
        make(lambda req: httpx.Response(200, text="hello")).hosts()
