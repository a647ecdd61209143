"""The seed's pipeline end to end with real workers: ribgen -> render -> composite, linked
frame by frame, on SQLite and PostgreSQL; checked from the event log."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from triggerfish.cli.demo import frame_order_ok, pipeline
from triggerfish.cli.local import LocalFarm, child_env


@pytest.fixture
def farm(tmp_path: Path, db_url: str) -> Iterator[LocalFarm]:
    f = LocalFarm(workers=2, slots=2, data_dir=tmp_path / "farm", db_url=db_url, grace=5.0)
    f.start()
    yield f
    f.stop()


def test_composite_frames_start_only_after_both_inputs(farm: LocalFarm) -> None:
    with farm.client() as c:
        jobs = c.submit(pipeline("1-8"))
        ids = {j["label"]: j["id"] for j in jobs}
        assert c.last_warnings == []
        final = c.wait(list(ids.values()), timeout=90)
        assert set(final.values()) == {"complete"}
        comp = c.callbacks(ids["composite"])
        [cb] = comp["callbacks"]
        assert cb["count"] == 8 and cb["source"] == "job"
        assert sorted(r["bindings"]["f"] for r in comp["runs"]) == sorted(
            str(i) for i in range(1, 9)
        )
        dep, on_failure = c.callbacks(ids["render"])["callbacks"]
        assert (dep["source"], dep["count"]) == ("dependency", 8)
        assert on_failure["count"] == 0  # no upstream frame failed
    with farm.client() as c:
        checked, problems = frame_order_ok(c.all_events(), ids)
    assert checked == 8 and problems == []


def test_cli_shows_callbacks_and_checks_triggers(farm: LocalFarm) -> None:
    with farm.client() as c:
        jobs = c.submit(pipeline("1-2"))
        c.wait([j["id"] for j in jobs], timeout=60)
    run = [sys.executable, "-m", "triggerfish"]
    env = child_env()
    shown = subprocess.run([*run, "callbacks", str(jobs[2]["id"]), "--url", farm.url,
                            "--data-dir", str(farm.data_dir), "--json"],
                           capture_output=True, text=True, env=env, check=True)  # fmt: skip
    data = json.loads(shown.stdout)
    assert data["callbacks"][0]["triggers"] == "complete-work-ribgen-$f && complete-work-render-$f"
    table = subprocess.run([*run, "callbacks", str(jobs[2]["id"]), "--url", farm.url,
                            "--data-dir", str(farm.data_dir)],
                           capture_output=True, text=True, env=env, check=True)  # fmt: skip
    assert "unblock-work-self" in table.stdout and "last runs" in table.stdout
    ok = subprocess.run([*run, "trigger", "check", "done-job-1 AND complete-work-x-$f"],
                        capture_output=True, text=True, env=env)  # fmt: skip
    assert ok.returncode == 0 and "AND" in ok.stdout
    bad = subprocess.run([*run, "trigger", "check", "done-job-1 &&"],
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert bad.returncode == 1 and "column 14" in bad.stderr
