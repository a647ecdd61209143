"""Universal callbacks on a running supervisor (issue 4, "Checked by"), SQLite and PostgreSQL.

The seed's directory (``callbacks.conf`` and its four files, paths moved to a tmp dir) in the
farm's data dir (the default ``universal_callback_path``), real workers, and a real SMTP server:
``submitted.py`` (the seed's code) appends a line per submitted job, ``checkWork.pl`` runs for
every finished frame, ``mail-status.qcb`` mails each finished job's status, and
``logFailuresToDB.py`` records each failed job in a database. Then the conf is edited while the
supervisor runs, bad lines included: the good lines take effect without a restart.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smtp_server import Inbox, smtp_server

from triggerfish.cli.local import LocalFarm, child_env
from triggerfish.client.client import Client

CONF = """\
#
# callbacks.conf
#
# syntax of this file is :
# filename = triggers
#
logFailuresToDB.py = failed-job-self
mail-status.qcb = done-job-self
checkWork.pl = done-work-self-*
submitted.py = submit-job-self
"""

SUBMITTED = """\
#!/usr/bin/env python

import sys
import qb
import traceback

fh = open('{out}', 'a')
try:
    # =====
    # == NOTE: ==
    # the qb.jobinfo() in callbacks is not the
    # same as the one in the external python API
    # =====
    job = qb.jobinfo("-id", qb.jobid())[0]
    fh.write('submitted %(id)s: %(name)s\\n' % job)
except:
    fh.write(traceback.format_exc())
fh.close()
"""

CHECK_WORK = """\
#!/usr/bin/perl
use strict;
my ($job) = qb::jobinfo("-id", $qb::jobid, "-agenda");
my ($item) = grep { $_->{name} eq $qb::workid } @{ $job->{agenda} };
open(my $fh, '>>', '{out}') or die "cannot open: $!";
print $fh "$qb::jobid:$qb::workid $item->{status} $qb::event->{name}\\n";
close($fh);
"""

LOG_FAILURES = """\
import sqlite3
import qb

job = qb.jobinfo("-id", qb.jobid())[0]
db = sqlite3.connect('{db}')
db.execute("CREATE TABLE IF NOT EXISTS failures (id INTEGER, name TEXT, status TEXT)")
db.execute("INSERT INTO failures VALUES (?, ?, ?)", (job["id"], job["name"], job["status"]))
db.commit()
"""


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def _write_dir(d: Path, out: Path) -> None:
    d.mkdir(parents=True)
    (d / "callbacks.conf").write_text(CONF)
    (d / "submitted.py").write_text(SUBMITTED.replace("{out}", str(out / "submitted.txt")))
    (d / "checkWork.pl").write_text(CHECK_WORK.replace("{out}", str(out / "frames.txt")))
    (d / "mail-status.qcb").write_text("mail-status\n")
    (d / "logFailuresToDB.py").write_text(LOG_FAILURES.replace("{db}", str(out / "fail.db")))


def _runs_ended(c: Client, job: int, count: int, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = c.callbacks(job)["runs"]
        if len(runs) >= count and all(r["status"] not in ("queued", "running") for r in runs):
            return runs
        time.sleep(0.1)
    raise AssertionError(f"runs of job {job} did not end: {runs}")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _cli(farm: LocalFarm, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**child_env(), **farm.client_env()}  # the farm's URL and the data dir of its token
    return subprocess.run([sys.executable, "-m", "triggerfish", *args],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip


@pytest.mark.slow  # 8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_the_seed_universal_callbacks_on_a_running_farm(
    tmp_path: Path, db_url: str, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = smtp
    monkeypatch.setenv("TRIGGERFISH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRIGGERFISH_SMTP_PORT", str(port))
    monkeypatch.setenv("TRIGGERFISH_SMTP_FROM", "farm@example.com")
    out = tmp_path / "out"
    out.mkdir()
    ucb = tmp_path / "farm" / "callback"  # the default path: <data dir>/callback
    _write_dir(ucb, out)
    farm = LocalFarm(workers=2, slots=2, data_dir=tmp_path / "farm", db_url=db_url, grace=5.0)
    farm.start()
    try:
        with farm.client() as c:
            jobs = c.submit([
                {"name": "good", "package": {"cmdline": "true", "range": "1-3"},
                 "mailaddress": "artist@example.com"},
                {"name": "bad", "package": {"cmdline": "exit 3", "range": "1"},
                 "mailaddress": "wrangler@example.com"},
            ])  # fmt: skip
            good, bad = jobs[0]["id"], jobs[1]["id"]
            assert c.wait([good, bad], timeout=60) == {good: "complete", bad: "failed"}
            # good: submit, 3 frames, done; bad: submit, 1 frame, failed, done
            good_runs = _runs_ended(c, good, 5)
            bad_runs = _runs_ended(c, bad, 4)
            for r in good_runs + bad_runs:
                assert r["status"] == "complete", r
            shown = c.callbacks(good)["callbacks"]
            assert sorted((cb["source"], cb["language"], Path(cb["code"]).name) for cb in shown) \
                == [("universal", "perl", "checkWork.pl"), ("universal", "python",
                    "logFailuresToDB.py"), ("universal", "python", "submitted.py"),
                    ("universal", "qube", "mail-status.qcb")]  # fmt: skip

            # submitted.py, exactly as the seed wrote it: a line per submitted job
            assert sorted(_lines(out / "submitted.txt")) == [f"submitted {good}: good",
                                                             f"submitted {bad}: bad"]  # fmt: skip
            # checkWork.pl: every finished frame, with its status read through qb::jobinfo
            assert sorted(_lines(out / "frames.txt")) == sorted(
                [f"{good}:{n} complete done" for n in ("1", "2", "3")] + [f"{bad}:1 failed done"]
            )
            # mail-status.qcb: one mail per finished job, to its mailaddress, with its status
            mails = inbox.wait_for(2)
            by_to = {m["To"]: m for m in mails}
            assert set(by_to) == {"artist@example.com", "wrangler@example.com"}
            assert f"job {good} (good) complete" in by_to["artist@example.com"]["Subject"]
            assert f"job {bad} (bad) failed" in by_to["wrangler@example.com"]["Subject"]
            body = by_to["wrangler@example.com"].get_content()
            assert "is failed" in body and "mail-status" not in body
            assert all(m["From"] == "farm@example.com" for m in mails)
            # logFailuresToDB.py: the failed job only
            with sqlite3.connect(out / "fail.db") as db:
                assert db.execute("SELECT * FROM failures").fetchall() == [(bad, "bad", "failed")]

            # edit the conf while running: a new good line, three bad ones, one line removed
            (ucb / "finished.py").write_text(
                f"open({str(out / 'finished.txt')!r}, 'a').write('%s\\n' % qb.jobid())\n"
            )
            (ucb / "notes.sh").write_text("echo\n")
            (ucb / "callbacks.conf").write_text(
                CONF.replace("submitted.py = submit-job-self\n", "")
                + "finished.py = complete-job-self\n"
                + "missing.py = done-job-self\n"
                + "notes.sh = done-job-self\n"
                + "finished.py = done-job-self\n"
                + "mail-status.qcb = complete-job-self &&\n"
            )
            checked = _cli(farm, "callbacks", "check")
            assert checked.returncode == 1, checked
            text = " ".join(checked.stdout.split())
            for why in ("missing file", "unknown extension '.sh'", "duplicate entry",
                        "bad trigger"):  # fmt: skip
                assert why in text, (why, checked.stdout)
            [j] = c.submit([{"name": "later", "package": {"cmdline": "true", "range": "1"},
                             "mailaddress": "artist@example.com"}])  # fmt: skip
            assert c.wait([j["id"]], timeout=60) == {j["id"]: "complete"}
            _runs_ended(c, j["id"], 3)  # finished.py, checkWork.pl, mail-status
            assert _lines(out / "finished.txt") == [str(j["id"])]
            assert f"submitted {j['id']}" not in (out / "submitted.txt").read_text()
            assert len(_lines(out / "frames.txt")) == 5
            inbox.wait_for(3)
            listed = c.callbacks(j["id"])["callbacks"]
            assert sorted(Path(cb["code"]).name for cb in listed) == [
                "checkWork.pl",
                "finished.py",
                "logFailuresToDB.py",
                "mail-status.qcb",
            ]
            # a file's code is read when it fires: an edit of finished.py counts at once
            (ucb / "finished.py").write_text(
                f"open({str(out / 'finished.txt')!r}, 'a').write('v2 %s\\n' % qb.jobid())\n"
            )
            reloaded = _cli(farm, "callbacks", "reload", "--json")
            assert reloaded.returncode == 1  # the bad lines are still there
            [k] = c.submit([{"name": "last", "package": {"cmdline": "true"}}])
            assert c.wait([k["id"]], timeout=60) == {k["id"]: "complete"}
            _runs_ended(c, k["id"], 2)  # finished.py and mail-status (skipped: no address)
            assert _lines(out / "finished.txt") == [str(j["id"]), f"v2 {k['id']}"]
        farm.check()
    finally:
        farm.stop()


@pytest.mark.slow  # 6-8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_universal_callbacks_attach_to_tasks_too(
    tmp_path: Path, tasks_app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SPEC §5: "they attach to every job submitted"; a task is a job (prototype task), and so
    # is each run of a scheduled task
    out = tmp_path / "out"
    out.mkdir()
    ucb = tmp_path / "farm" / "callback"
    ucb.mkdir(parents=True)
    (ucb / "callbacks.conf").write_text("seen.py = done-job-self\n")
    (ucb / "seen.py").write_text(
        f"import qb\nj = qb.jobinfo('-id', qb.jobid())[0]\n"
        f"open({str(out / 'seen.txt')!r}, 'a').write('%s %s\\n' % (j['prototype'], j['status']))\n"
    )
    from triggerfish.tasks import Tasks

    with LocalFarm(workers=1, slots=2, data_dir=tmp_path / "farm", grace=5.0) as farm, \
            farm.client() as c, Tasks(c) as tasks:  # fmt: skip
        now = tasks.add("tasks_app:echo", 1)
        later = tasks.add_scheduled("tasks_app:echo", 2, at=time.time() + 1)
        assert tasks.result(now, timeout=60) == {"got": 1}
        assert tasks.result(later, timeout=60) == {"got": 2}
        for tid, count in ((now, 1), (later, 2)):  # later: its hold's release, then seen.py
            runs = _runs_ended(c, tid, count)
            assert [r["status"] for r in runs] == ["complete"] * count, runs
            shown = c.callbacks(tid)["callbacks"]
            assert [Path(cb["code"]).name for cb in shown if cb["source"] == "universal"] == [
                "seen.py"
            ]
    assert _lines(out / "seen.txt") == ["task complete", "task complete"]
