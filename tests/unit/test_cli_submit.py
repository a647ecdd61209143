"""``triggerfish submit``: the job dict it builds, its options, and ``--file``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from triggerfish.cli import submit as submit_module
from triggerfish.cli.jobbuild import JobOptions, build_job, command_line, with_defaults
from triggerfish.cli.main import cli
from triggerfish.client import Client
from triggerfish.errors import ValidationError


class Recorder:
    """A fake supervisor answering submits; remembers every request body."""

    def __init__(self, warnings: list[str] | None = None) -> None:
        self.bodies: list[Any] = []
        self.warnings = warnings or []

    def handle(self, req: httpx.Request) -> httpx.Response:
        assert (req.method, req.url.path) == ("POST", "/api/v1/jobs")
        jobs = json.loads(req.content)
        self.bodies.append(jobs)
        out = [
            {"id": 10 + i, "label": j.get("label", f"job{10 + i}"), "pgrp": 10,
             "status": j.get("status", "pending"), "name": j.get("name", "")}
            for i, j in enumerate(jobs)
        ]  # fmt: skip
        return httpx.Response(201, json={"jobs": out, "warnings": self.warnings})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()

    def connect(url: str | None, token: str | None) -> Client:
        return Client(url, token=token, transport=httpx.MockTransport(recorder.handle))

    monkeypatch.setattr(submit_module, "connect", connect)
    monkeypatch.setattr(submit_module, "login_name", lambda: "alice")
    for name in ("SUBMIT_PRIORITY", "SUBMIT_USER", "SUBMIT_FILE", "JSON", "URL"):
        monkeypatch.delenv(f"TRIGGERFISH_{name}", raising=False)
    return recorder


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, ["submit", *args], input=input)


# ---------------------------------------------------------------- the pure helpers


def test_build_job_with_a_range_is_cmdrange() -> None:
    opts = JobOptions(name="beauty", cpus=4, priority=50, label="L", env={"A": "1"})
    job = build_job(["render", "-f", "QB_FRAME_NUMBER"], opts, frame_range="1-100", chunk=5)
    assert job == {
        "name": "beauty",
        "prototype": "cmdrange",
        "package": {"cmdline": "render -f QB_FRAME_NUMBER", "range": "1-100", "chunk": 5},
        "cpus": 4,
        "priority": 50,
        "label": "L",
        "env": {"A": "1"},
    }


def test_build_job_without_a_range_is_cmdline_named_after_the_command() -> None:
    job = build_job(["/usr/bin/nuke", "-x", "comp.nk"])
    assert job == {
        "name": "nuke",
        "prototype": "cmdline",
        "package": {"cmdline": "/usr/bin/nuke -x comp.nk"},
    }


def test_command_line_keeps_one_argument_and_quotes_several() -> None:
    assert command_line(["sleep 1; echo done"]) == "sleep 1; echo done"
    assert command_line(["echo", "a b", "$HOME"]) == "echo 'a b' '$HOME'"


def test_build_job_refuses_a_missing_command_and_a_chunk_without_range() -> None:
    with pytest.raises(ValidationError, match="command"):
        build_job([])
    with pytest.raises(ValidationError, match="--chunk needs --range"):
        build_job(["true"], chunk=3)


def test_file_jobs_keep_their_own_fields_over_options() -> None:
    jobs: list[dict[str, Any]] = [{"name": "a", "priority": 1}, {"name": "b"}]
    out = with_defaults(jobs, JobOptions(priority=50, user="bob"))
    assert out == [
        {"priority": 1, "user": "bob", "name": "a"},
        {"priority": 50, "user": "bob", "name": "b"},
    ]


# ---------------------------------------------------------------- the command


def test_submit_sends_the_job_and_prints_its_id(api: Recorder) -> None:
    result = run(
        "--name", "N", "--range", "1-100", "--chunk", "5", "--cpus", "4", "--priority", "50",
        "--label", "L", "--pgrp", "3", "--pid", "2", "--status", "blocked",
        "--hosts", "a,b", "--omithosts", "c", "--groups", "g1,g2", "--cluster", "/prod",
        "--retrywork", "2", "--retrywork-delay", "1.5", "--env", "K=V", "--env", "X=a=b",
        "--cwd", "/tmp", "--notes", "hi", "--user", "bob",
        "--", "render", "-f", "QB_FRAME_NUMBER",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "10\n"
    assert api.bodies == [
        [
            {
                "name": "N",
                "prototype": "cmdrange",
                "package": {"cmdline": "render -f QB_FRAME_NUMBER", "range": "1-100", "chunk": 5},
                "cpus": 4,
                "priority": 50,
                "label": "L",
                "pgrp": 3,
                "pid": 2,
                "status": "blocked",
                "hosts": ["a", "b"],
                "omithosts": ["c"],
                "groups": ["g1", "g2"],
                "cluster": "/prod",
                "retrywork": 2,
                "retrywork_delay": 1.5,
                "env": {"K": "V", "X": "a=b"},
                "cwd": "/tmp",
                "notes": "hi",
                "user": "bob",
            }
        ]
    ]


def test_submit_defaults_the_user_to_the_login_and_reads_the_environment(
    api: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIGGERFISH_SUBMIT_PRIORITY", "7")
    result = run("--", "echo hi")
    assert result.exit_code == 0, result.output
    assert api.bodies[0] == [
        {
            "name": "echo",
            "prototype": "cmdline",
            "package": {"cmdline": "echo hi"},
            "priority": 7,
            "user": "alice",
        }
    ]


def test_submit_json_prints_only_json_and_warnings_go_to_stderr(api: Recorder) -> None:
    api.warnings = ["hosts: no host named 'zz' is known"]
    result = run("--json", "--label", "x", "--", "true")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"id": 10, "label": "x", "pgrp": 10, "status": "pending", "name": "true"}
    ]
    assert "warning: hosts: no host named 'zz' is known" in result.stderr


def test_submit_needs_a_command(api: Recorder) -> None:
    result = run("--name", "x")
    assert result.exit_code == 1
    assert "give the command to run" in result.stderr
    assert api.bodies == []


def test_submit_refuses_bad_option_values(api: Recorder) -> None:
    for args in (["--priority", "0"], ["--cpus", "x"], ["--status", "running"], ["--env", "K"]):
        result = run(*args, "--", "true")
        assert result.exit_code == 2, (args, result.output)
    assert api.bodies == []


# ---------------------------------------------------------------- --file


def test_file_yaml_is_submitted_with_option_defaults(api: Recorder, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "- name: rib\n  package: {cmdline: 'rib QB_FRAME_NUMBER', range: 1-10}\n"
        "- name: comp\n  priority: 5\n  package: {cmdline: comp}\n"
    )
    result = run("--file", str(path), "--priority", "50")
    assert result.exit_code == 0, result.output
    assert result.stdout == "10\n11\n"
    assert api.bodies == [
        [
            {"priority": 50, "user": "alice", "name": "rib",
             "package": {"cmdline": "rib QB_FRAME_NUMBER", "range": "1-10"}},
            {"priority": 5, "user": "alice", "name": "comp", "package": {"cmdline": "comp"}},
        ]
    ]  # fmt: skip


def test_file_json_from_stdin_as_jobs_dict(api: Recorder) -> None:
    doc = json.dumps({"jobs": [{"name": "a", "package": {"cmdline": "true"}}]})
    result = run("--file", "-", input=doc)
    assert result.exit_code == 0, result.output
    assert api.bodies[0][0]["name"] == "a"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("jobs.json", '[{"name": "a",\n  "x": 1,\n}]', "jobs.json:3:1: invalid JSON"),
        ("jobs.json", '[{"name": "a"}', "jobs.json:1:15: invalid JSON"),
        ("jobs.yaml", "- name: a\n  package: {cmdline: x\n- name: b\n", "line 3, column"),
        ("jobs.yml", "- name: a\n\tpriority: 1\n", "jobs.yml: invalid YAML: line 2"),
        ("jobs.txt", "[1, 2", "jobs.txt:1:6: invalid JSON"),
        ("jobs.yaml", "name: [a\n", "jobs.yaml: invalid YAML"),
    ],
)  # fmt: skip
def test_malformed_files_are_refused_naming_file_and_line(
    api: Recorder, tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = run("--file", str(path))
    assert result.exit_code == 1
    assert expected in result.stderr
    assert str(path) in result.stderr
    assert result.stdout == ""
    assert api.bodies == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a list of job dicts, found nothing"),
        ("[]", "expected a list of job dicts, found nothing"),
        ('"hello"', "expected a list of job dicts, found str"),
        ("[1]", "job 1 is not a job dict (found int)"),
    ],
)
def test_files_that_hold_no_job_dicts_are_refused(
    api: Recorder, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    result = run("--file", str(path))
    assert result.exit_code == 1
    assert expected in result.stderr
    assert api.bodies == []


def test_missing_file_and_file_with_a_command(api: Recorder, tmp_path: Path) -> None:
    result = run("--file", str(tmp_path / "nope.json"))
    assert result.exit_code == 1
    assert "nope.json: cannot read" in result.stderr
    path = tmp_path / "jobs.json"
    path.write_text("[]")
    result = run("--file", str(path), "--", "echo")
    assert result.exit_code == 2
    assert "--file cannot be combined" in result.stderr
    assert api.bodies == []


def test_dependency_options_reach_the_job_dict() -> None:
    from triggerfish.cli.jobbuild import JobOptions, build_job

    job = build_job(
        ("render", "QB_FRAME_NUMBER"),
        JobOptions(dependency="link-complete-work-ribgen", dependency_failure="fail"),
        frame_range="1-3",
        chunk=None,
    )
    assert job["dependency"] == "link-complete-work-ribgen"
    assert job["dependency_failure"] == "fail"


def test_flight_options_reach_the_job_dict(api: Recorder) -> None:
    result = run(
        "--preflights", "check-gpu, mount", "--postflights", "cleanup",
        "--agenda-preflights", "a", "--agenda-postflights", "b", "--", "true",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [[job]] = api.bodies
    assert {k: job[k] for k in job if "flights" in k} == {
        "preflights": "check-gpu, mount", "postflights": "cleanup",
        "agenda_preflights": "a", "agenda_postflights": "b",
    }  # fmt: skip
