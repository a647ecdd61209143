"""Time with a real supervisor and real workers: ``submit --after`` and time callbacks across a
SIGKILL of the supervisor (issue 5, "Checked by")."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from triggerfish.cli.local import LocalFarm
from triggerfish.cli.main import cli
from triggerfish.triggers.vocabulary import QB_TIME_EPOCH_OFFSET

TIME_TYPES = ("time", "repeat", "globaltime", "globalrepeat")


def _qube(unix: float) -> int:
    return int(unix) - QB_TIME_EPOCH_OFFSET


def _until(pred: Any, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return bool(pred())


@pytest.mark.slow  # 6-8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_submit_after_starts_the_job_at_its_time_not_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalFarm(workers=1, slots=2, data_dir=tmp_path / "farm", grace=5) as farm:
        for key, value in farm.client_env().items():  # its URL and the data dir of its token
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("TRIGGERFISH_TOKEN", raising=False)
        at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
        written = at.astimezone(timezone(timedelta(hours=1))).isoformat()  # +01:00, as users do
        result = CliRunner().invoke(cli, ["submit", "--after", written, "--", "true"])
        assert result.exit_code == 0, result.output
        job_id = int(result.stdout.split()[0])
        client = farm.client()
        assert client.job(job_id, agenda=False)["status"] == "blocked"
        assert client.wait(job_id, timeout=60) == {job_id: "complete"}
        job = client.job(job_id, agenda=False)
        assert job["timestart"] >= at.timestamp()  # never started before its time
        events = client.all_events(job=job_id)
        names = [(e["name"], e["type"]) for e in events]
        assert names.index(("dummy", "time")) < names.index(("running", "job"))
        [tick] = [e for e in events if e["type"] == "time"]
        assert tick["time"] >= at.timestamp()


@pytest.fixture
def farm(tmp_path: Path, db_url: str) -> Iterator[LocalFarm]:
    f = LocalFarm(workers=1, slots=2, data_dir=tmp_path / "farm", db_url=db_url, grace=5.0)
    f.start()
    yield f
    f.stop()


@pytest.mark.slow  # over 10 s: CI runs it (.ci/run); `python -m pytest -m slow` here
def test_supervisor_killed_across_a_due_time_runs_the_missed_timer_once(farm: LocalFarm) -> None:
    client = farm.client()
    at = int(time.time()) + 3
    held = {"name": "held", "package": {"cmdline": "true"}, "status": "blocked",
            "callbacks": [{"triggers": f"dummy-time-self-{_qube(at)}", "language": "qube",
                           "code": "unblock-self"}]}  # fmt: skip
    ticking = {"name": "ticking", "package": {"cmdline": "true"}, "status": "blocked",
               "callbacks": [{"triggers": f"dummy-repeat-self-{_qube(at)}-1", "language": "qube",
                              "code": "block-self"}]}  # fmt: skip
    [a, b] = [j["id"] for j in client.submit([held, ticking])]
    farm.kill_supervisor()  # down across the due time and several periods of the repeat
    time.sleep(max(0.0, at + 3.5 - time.time()))
    restarted = time.time()
    farm.restart_supervisor()
    client = farm.client()
    assert client.wait(a, timeout=60) == {a: "complete"}
    once = [e for e in client.all_events(job=a) if e["type"] in TIME_TYPES]
    assert len(once) == 1 and once[0]["data"]["due"] == at
    assert once[0]["time"] >= restarted
    assert _until(lambda: len([e for e in client.all_events(job=b) if e["type"] == "repeat"]) >= 2)
    repeats = [e for e in client.all_events(job=b) if e["type"] == "repeat"]
    assert repeats[0]["data"]["due"] == at  # the missed periods made one firing ...
    for prev, nxt in itertools.pairwise(repeats):  # ... then the grid goes on, no catch-up
        assert nxt["data"]["due"] > prev["time"]
        assert float(nxt["data"]["due"]).is_integer()
    # the restart did not fire the one-shot time again
    farm.restart_supervisor()
    client = farm.client()
    time.sleep(1.0)
    assert len([e for e in client.all_events(job=a) if e["type"] in TIME_TYPES]) == 1
