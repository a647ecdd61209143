"""perl, exec and mail callbacks on a running farm (issue 4, items 2-4), SQLite and PostgreSQL.

A ``driver`` job's perl callback releases a ``held`` job (its items, then the job) through the
``qb`` Perl module; an exec callback writes a line per finished frame of ``held`` from its
environment; a mail callback mails ``held``'s status to a real SMTP server when it is done."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from smtp_server import smtp_server

from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client
from triggerfish.errors import ClientError


def _runs(c: Client, job: int, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = c.callbacks(job)["runs"]
        if len(runs) >= count and all(r["status"] not in ("queued", "running") for r in runs):
            return list(runs)
        time.sleep(0.1)
    raise AssertionError(c.callbacks(job)["runs"])


def test_perl_exec_and_mail_callbacks(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = tmp_path / "frames.txt"
    with smtp_server() as (inbox, port):
        monkeypatch.setenv("TRIGGERFISH_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("TRIGGERFISH_SMTP_PORT", str(port))
        farm = LocalFarm(workers=1, slots=2, data_dir=tmp_path / "farm", db_url=db_url,
                         grace=5.0)  # fmt: skip
        farm.start()
        try:
            with farm.client() as c:
                with pytest.raises(ClientError, match="mailaddress"):
                    c.submit(
                        [
                            {
                                "package": {"cmdline": "true"},
                                "callbacks": [{"triggers": "done-job-self", "language": "mail"}],
                            }
                        ]
                    )
                with pytest.raises(ClientError, match="not a command line"):
                    c.submit(
                        [
                            {
                                "package": {"cmdline": "true"},
                                "callbacks": [
                                    {
                                        "triggers": "done-job-self",
                                        "language": "exec",
                                        "code": "a 'b",
                                    }
                                ],
                            }
                        ]
                    )
                perl = """
my ($held) = map { $_->{id} } grep { $_->{label} eq 'held' } qb::jobinfo("-pgrp", $qb::jobid);
my @items = qb::workunblock("$held:1", "$held:2");
my @jobs = qb::unblock($held);
print "released @items and @jobs after $qb::event->{name} of $qb::jobid\\n";
"""
                exec_ = f"sh -c 'echo \"$QBJOBID:$QBWORKNAME $TRIGGERFISH_EVENT_NAME\" >> {frames}'"
                jobs = c.submit([
                    {"name": "driver", "label": "driver", "package": {"cmdline": "true"},
                     "callbacks": [{"triggers": "complete-job-self", "language": "perl",
                                    "code": perl}]},
                    {"name": "held", "label": "held", "status": "blocked",
                     "mailaddress": "lead@example.com", "package": {"cmdline": "true"},
                     "agenda": [{"name": "1", "status": "blocked"},
                                {"name": "2", "status": "blocked"}],
                     "callbacks": [
                         {"triggers": "done-work-self-*", "language": "exec", "code": exec_},
                         {"triggers": "done-job-self", "language": "mail",
                          "code": "Dailies at five."}]},
                ])  # fmt: skip
                driver, held = jobs[0]["id"], jobs[1]["id"]
                final = c.wait([driver, held], timeout=60)
                assert final == {driver: "complete", held: "complete"}
                [run] = _runs(c, driver, 1)
                assert run["status"] == "complete", run
                assert run["output"] == (
                    f"released {held}:1 {held}:2 and {held} after complete of {driver}\n"
                )
                runs = _runs(c, held, 3)
                assert {r["status"] for r in runs} == {"complete"}, runs
                assert sorted(frames.read_text().splitlines()) == [f"{held}:1 done",
                                                                   f"{held}:2 done"]  # fmt: skip
                [mail] = inbox.wait_for(1)
                assert mail["To"] == "lead@example.com"
                assert mail["Subject"] == f"triggerfish: job {held} (held) complete"
                assert "Dailies at five." in mail.get_content()
                shown = c.callbacks(held)["callbacks"]
                assert [cb["language"] for cb in shown] == ["exec", "mail"]
        finally:
            farm.stop()
