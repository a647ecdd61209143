"""The read and control commands against a fake supervisor: output, --json, exit codes."""

from __future__ import annotations

import json
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from triggerfish.cli import control, events, logs, query, wait
from triggerfish.cli.main import cli
from triggerfish.client import Client

JOB: dict[str, Any] = {
    "id": 12, "name": "beauty", "label": "render", "pgrp": 11, "pid": None, "user": "alice",
    "priority": 50, "status": "running", "prototype": "cmdrange", "cpus": 2, "reason": "",
    "todo": 100, "todotally": {"complete": 40, "running": 2, "pending": 58},
    "timesubmit": 1.0e9, "timestart": 1.0e9 + 5, "timecomplete": None,
    "package": {"cmdline": "render -f QB_FRAME_NUMBER", "range": "1-100", "chunk": 1},
    "fields": {"retrywork": 0, "notes": "hello"},
    "subjobs": [{"id": "12.0", "subid": 0, "status": "running", "host": "w1", "work": "41"}],
    "agenda": [
        {"id": f"12:{n}", "job": 12, "name": str(n), "seq": n, "status": "complete",
         "host": "w1", "timestart": 1.0e9, "timecomplete": 1.0e9 + 2}
        for n in range(1, 101)
    ],
}  # fmt: skip


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []

    def handle(self, req: httpx.Request) -> httpx.Response:
        body: Any = json.loads(req.content) if req.content else None
        path = req.url.path.removeprefix("/api/v1")
        self.requests.append((req.method, path, body if body is not None else dict(req.url.params)))
        if path == "/jobs":
            return httpx.Response(200, json={"jobs": [JOB]})
        if path == "/jobs/12":
            return httpx.Response(200, json=JOB)
        if path == "/jobs/12/work/5":
            return httpx.Response(200, json=JOB["agenda"][4])
        if path == "/jobs/12/work/5/log":
            text = "frame 5 done" if req.url.params["stream"] == "stdout" else ""
            size = str(len(text))
            headers = {"X-Triggerfish-Status": "complete", "X-Triggerfish-Log-Offset": size,
                       "X-Triggerfish-Log-Size": size}  # fmt: skip
            return httpx.Response(200, text=text, headers=headers)
        if path == "/jobs/12/work/6/log":
            err = {"code": "not_started", "message": "item 12:6 has not started yet",
                   "details": {"status": "pending"}}  # fmt: skip
            return httpx.Response(404, json={"error": err})
        if path == "/control":
            results = [{"target": t, "status": "killed"} for t in body["targets"]]
            return httpx.Response(200, json={"results": results})
        if path == "/hosts":
            host = {"name": "w1", "state": "active", "slots": 2, "used": 1, "groups": ["gpu"]}
            return httpx.Response(200, json={"hosts": [host]})
        if path == "/events":
            ev = {"seq": 3, "time": 1.0e9, "name": "complete", "type": "work", "job": 12,
                  "work": "5", "host": "w1", "data": {}}  # fmt: skip
            after = int(req.url.params.get("after", 0))
            rows = [ev] if after < 3 else []
            return httpx.Response(200, json={"events": rows, "last": 3})
        err = {"code": "not_found", "message": f"job {path.split('/')[2]} does not exist"}
        return httpx.Response(404, json={"error": err})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()

    def connect(url: str | None, token: str | None) -> Client:
        return Client(url, token=token, transport=httpx.MockTransport(fake.handle))

    for module in (control, events, logs, query, wait):
        monkeypatch.setattr(module, "connect", connect)
    monkeypatch.delenv("TRIGGERFISH_JSON", raising=False)
    return fake


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_every_option_reads_an_environment_variable() -> None:
    def walk(command: click.Command, path: str) -> list[str]:
        missing = []
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                missing += walk(sub, f"{path} {name}")
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in ("help", "version"):
                envs = param.envvar if isinstance(param.envvar, list) else [param.envvar]
                ok = param.show_envvar and all(str(e).startswith("TRIGGERFISH_") for e in envs)
                if not ok or not envs[0]:
                    missing.append(f"{path} {param.opts[0]}")
        return missing

    assert walk(cli, "triggerfish") == []


def test_help_of_every_command() -> None:
    for name in cli.list_commands(click.Context(cli)):
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert "Usage: " in result.output


def test_jobs_table_and_json(api: FakeApi) -> None:
    result = run("jobs", "--status", "running,pending", "--user", "alice")
    assert result.exit_code == 0, result.output
    assert "beauty" in result.stdout and "40/100" in result.stdout
    assert api.requests[0][2] == {"status": "running,pending", "user": "alice",
                                  "limit": "1000", "offset": "0"}  # fmt: skip
    result = run("jobs", "--json")
    assert json.loads(result.stdout) == [JOB]


def test_job_details_truncate_the_agenda(api: FakeApi) -> None:
    result = run("job", "12")
    assert result.exit_code == 0, result.output
    assert "render -f QB_FRAME_NUMBER" in result.stdout
    assert "12.0" in result.stdout
    assert "50 more of 100 items" in result.stdout
    assert "hello" in result.stdout
    assert "retrywork" not in result.stdout  # fields at their defaults are left out
    result = run("job", "12", "--agenda-limit", "0")
    assert "more of" not in result.stdout
    result = run("job", "12", "--no-agenda", "--json")
    assert json.loads(result.stdout)["id"] == 12
    assert api.requests[-1][2] == {"agenda": "false"}


def test_errors_are_red_on_stderr_with_exit_1(api: FakeApi) -> None:
    result = run("job", "99")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: job 99 does not exist" in result.stderr


def test_unreachable_supervisor_exit_1() -> None:
    result = run("jobs", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "cannot reach the supervisor at http://127.0.0.1:9" in result.stderr


def test_work_hosts_events(api: FakeApi) -> None:
    result = run("work", "12:5")
    assert result.exit_code == 0, result.output
    assert "12:5" in result.stdout and "complete" in result.stdout
    assert run("work", "12").exit_code == 2
    result = run("hosts")
    assert "w1" in result.stdout and "gpu" in result.stdout
    result = run("events", "--json")
    assert [e["seq"] for e in json.loads(result.stdout)] == [3]
    result = run("events", "--after", "0")
    assert "complete-work" in result.stdout and "12:5" in result.stdout


def test_logs_of_a_frame(api: FakeApi) -> None:
    result = run("logs", "12:5")  # both streams; an empty one has no header
    assert result.exit_code == 0, result.output
    assert result.stdout == "==> 12:5 stdout <==\nframe 5 done\n"
    result = run("logs", "12:5", "--stream", "stdout")
    assert result.exit_code == 0
    assert result.stdout == "frame 5 done\n"
    result = run("logs", "12:5", "--stream", "stderr")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "item 12:5 printed nothing to stderr\n"
    result = run("logs", "12:6")
    assert result.exit_code == 1
    assert result.stderr == "error: item 12:6 has not started yet\n"
    assert run("logs", "12").exit_code == 2


def test_control_verbs_take_many_targets(api: FakeApi) -> None:
    result = run("kill", "12", "12.0", "12:1-10", "--json")
    assert result.exit_code == 0, result.output
    assert api.requests[-1] == (
        "POST",
        "/control",
        {"action": "kill", "targets": ["12", "12.0", "12:1-10"]},
    )
    assert [r["target"] for r in json.loads(result.stdout)] == ["12", "12.0", "12:1-10"]
    for verb in ("block", "unblock", "retry", "requeue", "remove"):
        assert run(verb, "12").exit_code == 0
        assert api.requests[-1][2]["action"] == verb
    result = run("kill", "twelve")
    assert result.exit_code == 2
    assert "expected JOB, JOB.INSTANCE or JOB:WORK" in result.stderr
    assert run("kill").exit_code == 2


def test_modify_decodes_set_values(api: FakeApi) -> None:
    result = run(
        "modify", "12", "--priority", "5", "--set", "notes=hello", "--set", "retrywork=3",
        "--set", "env={\"A\": \"1\"}", "--set", "hosts=[\"a\"]",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert api.requests[-1][2] == {
        "action": "modify",
        "targets": ["12"],
        "fields": {
            "notes": "hello",
            "retrywork": 3,
            "env": {"A": "1"},
            "hosts": ["a"],
            "priority": 5,
        },
    }
    assert run("modify", "12").exit_code == 2
    assert run("modify", "12", "--set", "novalue").exit_code == 2
