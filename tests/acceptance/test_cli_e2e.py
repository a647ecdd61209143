"""The CLI end to end: a real supervisor and real workers (child processes), real HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner, Result

from triggerfish.cli.local import LocalFarm, child_env
from triggerfish.cli.main import cli
from triggerfish.errors import TriggerfishError


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    data = tmp_path_factory.mktemp("farm")
    with LocalFarm(workers=2, slots=2, data_dir=data, host_timeout=10, grace=5) as local:
        yield local


@pytest.fixture
def tf(farm: LocalFarm, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``triggerfish ARGS...`` in-process against the farm."""
    for key, value in farm.client_env().items():  # the URL, and the data dir of its token
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRIGGERFISH_JSON", raising=False)
    monkeypatch.delenv("TRIGGERFISH_TOKEN", raising=False)

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input)

    return run


def ids_of(result: Result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [int(line) for line in result.stdout.split()]


def test_hosts_are_the_local_workers(tf: Any, farm: LocalFarm) -> None:
    hosts = json.loads(tf("hosts", "--json").stdout)
    assert {h["name"] for h in hosts} >= set(farm.worker_names)


def test_submit_a_range_wait_and_inspect(tf: Any) -> None:
    result = tf(
        "submit", "--name", "e2e", "--range", "1-10", "--chunk", "2", "--cpus", "2",
        "--wait", "--", "echo frame QB_FRAME_START-QB_FRAME_END",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [jid] = ids_of(result)
    detail = json.loads(tf("job", str(jid), "--json").stdout)
    assert detail["status"] == "complete"
    assert detail["prototype"] == "cmdrange"
    assert [w["name"] for w in detail["agenda"]] == ["1-2", "3-4", "5-6", "7-8", "9-10"]
    assert tf("logs", f"{jid}:5-6", "--stream", "stdout").stdout.rstrip().endswith("frame 5-6")
    work = json.loads(tf("work", f"{jid}:5-6", "--json").stdout)
    assert work["status"] == "complete" and work["exit_code"] == 0
    listed = json.loads(tf("jobs", "--name", "e2e", "--json").stdout)
    assert [j["id"] for j in listed] == [jid]
    assert listed[0]["todotally"]["complete"] == 5
    table = tf("job", str(jid))
    assert table.exit_code == 0 and "5/5 ended" in table.stdout


def test_failed_job_exit_codes(tf: Any) -> None:
    result = tf("submit", "--wait", "--", "echo oops >&2; exit 3")
    assert result.exit_code == 1
    [jid] = [int(line) for line in result.stdout.split()]
    waited = tf("wait", str(jid), "--json")
    assert waited.exit_code == 1
    assert json.loads(waited.stdout) == {str(jid): "failed"}
    both = tf("logs", f"{jid}.0", "--stream", "both")
    assert "oops" in both.stdout


def test_logs_of_a_running_item_then_of_its_end(tf: Any) -> None:
    # The worker reads a command's output while it runs (not only when it ends).
    [jid] = ids_of(tf("submit", "--", "echo started; echo warming >&2; sleep 60; echo never"))
    deadline = time.monotonic() + 30
    while "warming" not in tf("logs", f"{jid}.0").stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    running = json.loads(tf("job", str(jid), "--json").stdout)
    assert running["status"] == "running"
    assert tf("logs", f"{jid}.0", "--stream", "stdout").stdout.rstrip().endswith("started")
    assert tf("logs", f"{jid}.0", "--stream", "stderr").stdout.rstrip().endswith("warming")
    assert tf("kill", str(jid)).exit_code == 0
    assert json.loads(tf("wait", str(jid), "--json").stdout) == {str(jid): "killed"}
    assert "never" not in tf("logs", f"{jid}.0", "--stream", "both").stdout


def test_blocked_job_wait_timeout_then_unblock(tf: Any) -> None:
    [jid] = ids_of(tf("submit", "--status", "blocked", "--", "true"))
    result = tf("wait", str(jid), "--timeout", "0.5")
    assert result.exit_code == 1
    assert "not finished" in result.stderr and "blocked" in result.stderr
    assert tf("unblock", str(jid)).exit_code == 0
    result = tf("wait", str(jid), "--timeout", "30")
    assert result.exit_code == 0, result.output


def test_kill_modify_remove(tf: Any) -> None:
    [jid] = ids_of(tf("submit", "--priority", "500", "--", "sleep 30"))
    modified = tf("modify", str(jid), "--priority", "7", "--set", "notes=hello")
    assert modified.exit_code == 0, modified.output
    detail = json.loads(tf("job", str(jid), "--json").stdout)
    assert detail["priority"] == 7
    killed = json.loads(tf("kill", str(jid), "--json").stdout)
    assert killed == [{"target": str(jid), "status": "killed"}]
    assert json.loads(tf("wait", str(jid), "--json").stdout) == {str(jid): "killed"}
    assert tf("remove", str(jid)).exit_code == 0
    gone = tf("job", str(jid))
    assert gone.exit_code == 1 and f"no such job {jid}" in gone.stderr


def test_modify_after_moves_a_held_job(tf: Any) -> None:
    [jid] = ids_of(tf("submit", "--after", "+1h", "--", "true"))
    detail = json.loads(tf("job", str(jid), "--json").stdout)
    assert detail["status"] == "blocked" and detail["reason"].startswith("held until ")
    moved = tf("modify", str(jid), "--after", "+1s")
    assert moved.exit_code == 0, moved.output
    assert tf("wait", str(jid), "--timeout", "30").exit_code == 0
    again = tf("modify", str(jid), "--after", "+1h")  # it is no longer held
    assert again.exit_code == 1 and "is not held until a time" in again.stderr


def test_file_submission_is_one_pgrp(tf: Any, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "- {name: a, label: first, package: {cmdline: 'echo a'}}\n"
        "- {name: b, label: second, package: {cmdline: 'echo b QB_FRAME_NUMBER', range: 1-3}}\n"
    )
    result = tf("submit", "--file", str(path), "--json", "--wait")
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)
    assert [j["label"] for j in jobs] == ["first", "second"]
    assert len({j["pgrp"] for j in jobs}) == 1
    assert {j["status"] for j in jobs} == {"complete"}
    events = json.loads(tf("events", "--job", str(jobs[1]["id"]), "--json").stdout)
    names = {(e["name"], e["type"]) for e in events}
    assert ("submit", "job") in names and ("complete", "job") in names


def test_server_validation_error_is_shown(tf: Any) -> None:
    result = tf("submit", "--label", "bad-label", "--", "true")
    assert result.exit_code == 1
    assert "label 'bad-label'" in result.stderr


def test_events_follow_prints_new_events(farm: LocalFarm) -> None:
    env = {**child_env(), **farm.client_env()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "triggerfish", "events", "--follow", "--json", "--limit", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        json.loads(proc.stdout.readline())  # the newest event (a worker's "up"): it follows now
        with farm.client() as client:
            [job] = client.submit({"name": "followed", "package": {"cmdline": "true"}})
            client.wait(job["id"], timeout=30)
        seen: list[dict[str, Any]] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen.append(json.loads(proc.stdout.readline()))
            if any(e["job"] == job["id"] and e["name"] == "complete" for e in seen):
                break
        assert any(e["job"] == job["id"] and e["name"] == "submit" for e in seen)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"events --follow ignored SIGINT; stderr: {err!r}") from None
        assert proc.returncode == 0, err


def test_farm_that_cannot_start_says_why(tmp_path: Path) -> None:
    farm = LocalFarm(workers=1, data_dir=tmp_path, db_url="nosuchdb://x", startup_timeout=30)
    with pytest.raises(TriggerfishError, match="supervisor exited with code") as info:
        farm.start()
    assert "nosuchdb" in info.value.message  # the tail of its log
    assert farm.supervisor is not None and farm.supervisor.poll() is not None
    assert farm.workers == []


def test_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "triggerfish", "run", "--port", "0", "--workers", "2",
         "--data-dir", str(tmp_path), "--log-level", "warning"],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(1)]
    while "listening on http://127.0.0.1:" not in lines[-1] and len(lines) < 100:
        assert lines[-1], "".join(lines)  # run exited before saying where it listens
        lines.append(proc.stdout.readline())
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 3
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_demo_completes(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "triggerfish", "demo"],
        env={**child_env(), "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 60
    for word in ("ribgen", "render", "composite", "what ran", "what to try next"):
        assert word in result.stdout
    assert "rendered frame" in result.stdout
