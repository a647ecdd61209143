"""Universal callbacks in the engine (real store, SQLite and PostgreSQL): attached to every job
at submission, fired by the submission's own events, .qcb actions looked up when they fire,
stored and restored as universal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_engine import Farm, job

from triggerfish.callbacks.universal import UniversalCallbacks
from triggerfish.engine import submit as sub
from triggerfish.model.jobspec import parse_jobs
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def _submit(farm: Farm, ucb: UniversalCallbacks, *jobs: dict[str, object]) -> list[int]:
    answer = farm.run(sub.submit, parse_jobs(list(jobs)), "alice", ucb.specs())
    return [j.id for j in answer.jobs]


def test_universal_qcb_fires_on_the_submissions_own_events(farm: Farm, tmp_path: Path) -> None:
    (tmp_path / "callbacks.conf").write_text("release.qcb = blocked-job-self\n")
    (tmp_path / "release.qcb").write_text("unblock-self\n")
    ucb = UniversalCallbacks([tmp_path])
    assert farm.eng is not None
    farm.eng.state.qcb_actions = ucb.qcb_actions
    [a, b] = _submit(farm, ucb, job("1-2", status="blocked"), job("1", name="free"))
    assert farm.status(a) == "pending"  # released in its submission's commit
    assert farm.status(b) == "pending"
    for jid in (a, b):
        [cb] = reads.list_callbacks(farm.db, jid)
        assert (cb["source"], cb["language"]) == ("universal", "qube")
        assert cb["code"] == str((tmp_path / "release.qcb").resolve())
    runs = reads.list_runs(farm.db, job=a, limit=10)
    assert [(r["status"], r["output"]) for r in runs] == [("complete", f"unblock job {a}: pending")]
    assert reads.list_runs(farm.db, job=b, limit=10) == []  # b was never blocked

    # the file changes: its callbacks (already attached) act on the new actions when they fire
    (tmp_path / "release.qcb").write_text("kill-self\n")
    st = (tmp_path / "release.qcb").stat()
    os.utime(tmp_path / "release.qcb", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    ucb.current()
    farm.control("block", a)
    assert farm.status(a) == "killed"
    # the file goes bad: the firing is recorded as a failed run, nothing else happens
    (tmp_path / "release.qcb").write_text("no-such-action\n")
    ucb.reload()
    farm.control("block", b)
    assert farm.status(b) == "blocked"
    [run] = reads.list_runs(farm.db, job=b, limit=10)
    assert run["status"] == "failed" and "no longer a good line" in run["error"]

    farm.restart()  # stored as universal; restored without reading the file
    assert [cb["source"] for cb in reads.list_callbacks(farm.db, a)] == ["universal"]


def test_a_job_callback_on_its_own_submit_event_fires_once(farm: Farm) -> None:
    [a] = [j.id for j in farm.submit(job("1", status="blocked", callbacks=[
        {"triggers": "submit-job-self", "code": "unblock-self"}])).jobs]  # fmt: skip
    assert farm.status(a) == "pending"
    [cb] = reads.list_callbacks(farm.db, a)
    assert cb["count"] == 1
    assert len(reads.list_runs(farm.db, job=a, limit=10)) == 1


def test_a_universal_trigger_that_does_not_fit_a_job_is_left_out_with_a_warning(
    farm: Farm, tmp_path: Path
) -> None:
    (tmp_path / "callbacks.conf").write_text("p.py = done-job-parent\n")
    (tmp_path / "p.py").write_text("print(1)")
    ucb = UniversalCallbacks([tmp_path])
    answer = farm.run(sub.submit, parse_jobs([job("1")]), "alice", ucb.specs())
    [jid] = [j.id for j in answer.jobs]
    assert reads.list_callbacks(farm.db, jid) == []
    assert len(answer.warnings) == 1 and "p.py not attached" in answer.warnings[0]


def test_the_older_seed_form_failed_job_self_star_fires_once_per_failed_job(
    farm: Farm, tmp_path: Path
) -> None:
    (tmp_path / "callbacks.conf").write_text("log.qcb = failed-job-self-*\n")
    (tmp_path / "log.qcb").write_text("retry-self\n")
    ucb = UniversalCallbacks([tmp_path])
    assert farm.eng is not None
    farm.eng.state.qcb_actions = ucb.qcb_actions
    [a, b] = _submit(farm, ucb, job("1"), job("1"))
    host = "h1"
    farm.register(host, slots=2)
    got = {x.job: x.token for x in farm.pull(host).assignments}
    farm.report(host, got[a], "failed")
    farm.report(host, got[b], "complete")
    assert farm.status(b) == "complete"
    [run] = reads.list_runs(farm.db, job=a, limit=10)
    assert run["status"] == "complete" and run["output"].startswith(f"retry job {a}")
    assert farm.status(a) in ("pending", "running")  # retried by the universal .qcb
    assert reads.list_runs(farm.db, job=b, limit=10) == []
