"""Retention end to end: a supervisor started with TRIGGERFISH_RETENTION (the env mirror of
--retention) deletes old finished jobs, their logs included, and keeps the rest."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from triggerfish.cli.local import LocalFarm
from triggerfish.errors import ClientError


@pytest.mark.slow  # 6-8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_old_finished_jobs_and_their_logs_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIGGERFISH_RETENTION", "2s")
    with (
        LocalFarm(workers=1, slots=2, data_dir=tmp_path / "farm", grace=5) as farm,
        farm.client() as c,
    ):
        [done] = c.submit({"name": "old", "package": {"cmdline": "echo rendered", "range": "1-2"}})
        [held] = c.submit({"name": "held", "status": "blocked", "package": {"cmdline": "true"}})
        assert c.wait([done["id"]], timeout=60) == {done["id"]: "complete"}
        logs = tmp_path / "farm" / "logs" / str(done["id"])
        assert logs.is_dir()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                c.job(done["id"])
            except ClientError as exc:
                assert exc.status == 404
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the finished job was never deleted")
        assert not logs.exists()
        assert c.events(job=done["id"]) == []
        assert c.job(held["id"])["status"] == "blocked"  # unfinished: kept, however old
