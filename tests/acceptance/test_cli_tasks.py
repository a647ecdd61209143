"""``triggerfish tasks`` end to end: a real farm whose workers import tasks_app."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from triggerfish.cli.local import LocalFarm
from triggerfish.cli.main import cli

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "TRIGGERFISH_TASK_IMPORTS")}
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p
    )
    os.environ["TRIGGERFISH_TASK_IMPORTS"] = "tasks_app"
    try:
        data = tmp_path_factory.mktemp("farm")
        with LocalFarm(workers=1, slots=2, data_dir=data, grace=5) as local:
            yield local
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def tf(farm: LocalFarm, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in farm.client_env().items():  # the URL, and the data dir of its token
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRIGGERFISH_JSON", raising=False)
    monkeypatch.delenv("TRIGGERFISH_TOKEN", raising=False)

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args))

    return run


def test_add_and_show_a_task(tf: Any) -> None:
    added = tf("tasks", "add", "tasks_app:echo", '{"x": 1}')
    assert added.exit_code == 0, added.output
    tid = added.stdout.strip()
    shown = tf("tasks", "show", tid, "--wait", "60", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["result"] == {"got": {"x": 1}}
    failed = tf("tasks", "show", tf("tasks", "add", "tasks_app:boom", '"z"').stdout.strip(),
                "--wait", "60")  # fmt: skip
    assert failed.exit_code == 1
    assert "ValueError: kaput z" in failed.output and "Traceback" in failed.output


def test_recurring_list_pause_resume_remove(tf: Any) -> None:
    added = tf("tasks", "add", "tasks_app:echo", '"tick"', "--every", "3600", "--key", "cli")
    assert added.exit_code == 0, added.output
    sid = added.stdout.strip()
    assert sid.startswith("r")
    listing = tf("tasks")
    assert listing.exit_code == 0 and "tasks_app:echo" in listing.stdout and sid in listing.stdout
    assert tf("tasks", "pause", sid).exit_code == 0
    [paused] = [s for s in json.loads(tf("tasks", "--json").stdout)["schedules"]
                if f"r{s['id']}" == sid]  # fmt: skip
    assert paused["paused"] and paused["next_run"] is None and "paused" in tf("tasks").stdout
    assert tf("tasks", "resume", sid).exit_code == 0
    [resumed] = json.loads(tf("tasks", "--json").stdout)["schedules"]
    assert not resumed["paused"] and resumed["next_run"] > resumed["start"]
    assert resumed["runs"] == 1 and resumed["last_task"] is not None  # the first, at once
    assert tf("tasks", "remove", sid).exit_code == 0
    assert json.loads(tf("tasks", "--json").stdout)["schedules"] == []


def test_bad_input_exits_non_zero_and_adds_nothing(tf: Any) -> None:
    before = json.loads(tf("tasks", "--all", "--json").stdout)
    for args, needle in [
        (["tasks", "add", "not a target"], "target"),
        (["tasks", "add", "m:f", "{bad"], "not JSON"),
        (["tasks", "add", "m:f", "--at", "tomorrow"], "ISO-8601"),
        (["tasks", "add", "m:f", "--key", "k"], "--every"),
        (["tasks", "pause", "12"], "not a recurring task id"),
        (["tasks", "remove", "x"], "not a task id"),
    ]:
        result = tf(*args)
        assert result.exit_code != 0, args
        assert needle in result.output, (args, result.output)
    assert json.loads(tf("tasks", "--all", "--json").stdout) == before
