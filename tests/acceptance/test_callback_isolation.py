"""Isolation, proven (issue 4, item 5): a callback in any language that blocks, loops, exhausts
memory, exits or kills its own process costs only its run. With every runner busy with such
runs, the supervisor keeps dispatching, qube callbacks keep firing in the engine, and a good
callback queued behind the bad ones still runs; the bad runs end failed, each saying why."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client

TIMEOUT = 3  # seconds, the runs' time limit here

# (language, code, what the run's error must say)
BAD: list[tuple[str, str, str]] = [
    ("python", "import time\ntime.sleep(600)", "time limit"),
    ("python", "while True:\n    pass", "time limit"),
    ("python", "x = bytearray(2 * 1024 ** 3)", "MemoryError"),
    ("python", "import sys\nsys.exit(5)", "sys.exit(5)"),
    ("python", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "killed by signal 9"),
    ("perl", "sleep 600;", "time limit"),
    ("perl", "1 while 1;", "time limit"),
    ("perl", "my $n = 2 * 1024 ** 3; my $x = 'x' x $n;", "Out of memory"),
    ("perl", "exit 4;", "exited with 4"),
    ("perl", "kill 'KILL', $$;", "killed by signal 9"),
    ("perl", "die 'broken';", "broken at callback line 1"),
    ("exec", "sleep 600", "time limit"),
    ("exec", "sh -c 'while :; do :; done'", "time limit"),
    ("exec", "python3 -c 'bytearray(2 * 1024 ** 3)'", "MemoryError"),
    ("exec", "sh -c 'echo leaving; exit 7'", "leaving"),
    ("exec", "sh -c 'kill -9 $$'", "killed by signal 9"),
    ("exec", "/no/such/program", "cannot start /no/such/program"),
]


def _ended(c: Client, job: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = c.callbacks(job)["runs"]
        if runs and runs[0]["status"] not in ("queued", "running"):
            return dict(runs[0])
        time.sleep(0.2)
    raise AssertionError(f"the run of job {job} did not end: {c.callbacks(job)}")


@pytest.mark.slow  # 10 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_bad_callbacks_in_every_language_cost_only_their_run(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIGGERFISH_CALLBACK_TIMEOUT", str(TIMEOUT))
    monkeypatch.setenv("TRIGGERFISH_CALLBACK_MEMORY", "512")
    monkeypatch.setenv("TRIGGERFISH_CALLBACK_WORKERS", "3")
    farm = LocalFarm(workers=2, slots=2, data_dir=tmp_path / "farm", db_url=db_url, grace=5.0)
    farm.start()
    try:
        with farm.client() as c:
            bad = c.submit([
                {"name": f"bad-{i}", "package": {"cmdline": "true"},
                 "callbacks": [{"triggers": "complete-job-self", "language": lang, "code": code}]}
                for i, (lang, code, _) in enumerate(BAD)
            ])  # fmt: skip
            ids = [j["id"] for j in bad]
            c.wait(ids, timeout=60)
            # while the runners are busy with bad runs: dispatching and qube callbacks go on
            [up, down] = c.submit([
                {"name": "upstream", "label": "up",
                 "package": {"cmdline": "true", "range": "1-20"}},
                {"name": "downstream", "package": {"cmdline": "true", "range": "1-20"},
                 "dependency": "link-complete-work-up",
                 "callbacks": [{"triggers": "complete-job-self", "language": "python",
                                "code": "print('good', qb.jobid())"}]},
            ])  # fmt: skip
            busy = [
                r
                for i in ids
                for r in c.callbacks(i)["runs"]
                if r["status"] in ("queued", "running")
            ]
            assert c.wait([up["id"], down["id"]], timeout=60) == {
                up["id"]: "complete",
                down["id"]: "complete",
            }
            assert busy, "the bad runs were over before the good work was checked"
            ran = c.callbacks(down["id"])
            qube = [
                r for r in ran["runs"] if r["status"] == "complete" and "unblock" in r["output"]
            ]
            assert len(qube) == 20  # each frame released by its qube callback
            for i, (lang, code, why) in zip(ids, BAD, strict=True):
                run = _ended(c, i)
                assert run["status"] == "failed", (lang, code, run)
                assert why in (run["error"] or "") + (run["output"] or ""), (lang, code, run)
            good = [r for r in c.callbacks(down["id"])["runs"] if "good" in (r["output"] or "")]
            if not good:  # queued behind the bad runs: it runs once they are over
                deadline = time.monotonic() + 60
                while not good and time.monotonic() < deadline:
                    time.sleep(0.2)
                    good = [r for r in c.callbacks(down["id"])["runs"]
                            if "good" in (r["output"] or "")]  # fmt: skip
            assert good and good[0]["status"] == "complete", c.callbacks(down["id"])["runs"]
            # still serving: a new job runs to the end
            [j] = c.submit([{"name": "after", "package": {"cmdline": "true", "range": "1-3"}}])
            assert c.wait([j["id"]], timeout=30) == {j["id"]: "complete"}
        assert farm.check() == []
    finally:
        farm.stop()
