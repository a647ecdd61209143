"""schemathesis against a live supervisor, on both stores: no server error, no answer that
its OpenAPI does not describe (item 10 of issue 15).

The run is bounded: the coverage phase (every operation's boundary and wrong values: huge ids
and offsets, missing and extra fields, wrong types), then random cases until the time budget
is spent. Long polls are cut short by ``schemathesis_hooks.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from farms import StartFarm

from triggerfish.client.client import Client

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
MAX_TIME = 60  # seconds of one store's run (coverage, then fuzzing until spent)
MAX_EXAMPLES = 15  # random cases per operation


def schemathesis_command() -> list[str]:
    exe = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    if not Path(exe).exists():
        pytest.fail("schemathesis is not installed (pip install -e '.[test]')")
    return [exe]


def seed(client: Client) -> None:
    """Something for id 1 (a boundary the fuzzer tries) to name: a job with an agenda and a
    callback, a task, a recurring task, a global callback; so that the routes behind the ids
    are reached, not only their 404."""
    callback = {"triggers": "done-job-self", "language": "python", "code": "pass"}
    job = {"name": "fuzzed", "package": {"cmdline": "true", "range": "1-3"},
           "callbacks": [callback]}  # fmt: skip
    client.submit([job])
    client.add_task({"target": "os:getcwd"})
    client.add_schedule({"target": "os:getcwd", "every": 3600, "start": 4e9})
    client.add_global_callback("complete-job-999999", "pass")


@pytest.mark.slow
def test_schemathesis_finds_nothing(start_farm: StartFarm, db_url: str, tmp_path: Path) -> None:
    farm = start_farm(db_url, workers=0)
    seed(farm.client())
    report = tmp_path / "schemathesis"
    cmd = [
        *schemathesis_command(), "run", f"{farm.url}/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_TIME),
        "--workers", "1", "--request-timeout", "20", "--seed", "15",
        "--report", "junit", "--report-dir", str(report),
        "-H", f"Authorization: Bearer {farm.token}",
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1"}
    run = subprocess.run(  # (in tmp_path: its caches of earlier runs stay out of the tree)
        cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=MAX_TIME + 120
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-20_000:]
    assert " passed" in out and "Operations:" in out, out[-5000:]
    # the supervisor lived through it, and still answers
    assert farm.supervisor is not None and farm.supervisor.poll() is None
    assert farm.client().jobs(limit=1) is not None
