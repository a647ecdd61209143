"""Qube's Job fields at submission (model.jobspec) and Qube's object shapes read back
(model.status, server.convert, qb's jobinfo shapes): every field of Qube's Job accepted,
the ones with no effect here named in warnings, typos refused with a guess."""

from __future__ import annotations

from typing import Any

import pytest

import triggerfish.qb as qb
from triggerfish.errors import ValidationError
from triggerfish.model.jobspec import FLAGS, NO_EFFECT, PROD_FIELDS, READ_ONLY, parse_jobs
from triggerfish.model.status import aggregate, attempts, tally_of
from triggerfish.server import convert

CMD = {"cmdline": "render -f QB_FRAME_NUMBER"}

# The settable fields of Qube's Job (QB ``Job`` docstring), with values a Qube tool sends.
QUBE_JOB: dict[str, Any] = {
    "name": "shot010 beauty", "prototype": "cmdrange", "label": "beauty", "priority": 500,
    "package": {"cmdline": CMD["cmdline"], "range": "1-10", "rangeExecution": "chunks:5",
                "padding": 4, "regex_errors": "ERROR"},
    "cpus": 2, "max_cpus": 4, "cluster": "/", "restrictions": "/farm", "groups": "linux,gpu",
    "omitgroups": "", "hosts": "", "omithosts": "", "hostorder": "-host.processors.avail",
    "requirements": "", "reservations": "", "retrysubjob": 1, "retrywork": 2,
    "retrywork_delay": 5, "timeout": 600, "timelimit": 3600, "agenda_timeout": 60,
    "agenda_timelimit": 120, "flagsstring": "auto_wrangling,mail", "mailaddress": "a@b.c",
    "user": "ann", "domain": "STUDIO", "account": "show-a", "kind": "render",
    "notes": "first pass", "dependency": "", "waitfor": [], "callbacks": [],
    "preflights": "", "postflights": "", "agenda_preflights": "", "agenda_postflights": "",
    "p_agenda": [], "status": "pending", "env": {"A": "1"}, "data": {},
    **{f: f"{f} value" for f in PROD_FIELDS},
}  # fmt: skip


def test_every_field_of_qubes_job_is_accepted() -> None:
    [nj] = parse_jobs([QUBE_JOB])
    spec = nj.spec
    tags = (spec.account, spec.kind, spec.domain, spec.restrictions)
    assert tags == ("show-a", "render", "STUDIO", "/farm")
    assert spec.flags == FLAGS["auto_wrangling"] | FLAGS["mail"]  # derived, as Qube does
    assert all(getattr(spec, f) == f"{f} value" for f in PROD_FIELDS)
    assert spec.max_cpus == 4 and spec.package["rangeExecution"] == "chunks:5"
    assert [n for n, _ in nj.agenda] == [str(i) for i in range(1, 11)]


def test_fields_with_no_effect_are_named_in_warnings_and_tags_are_not() -> None:
    [nj] = parse_jobs([QUBE_JOB])
    named = {w.split(":")[0].removeprefix("jobs[0].") for w in nj.warnings}
    assert named == {"flagsstring", "restrictions", "domain", "max_cpus"}
    assert all("no effect" in w for w in nj.warnings)
    assert set(named) <= set(NO_EFFECT)
    [nj] = parse_jobs([{**QUBE_JOB, "p_agenda": ["1"], "flags": 1, "restrictions": ""}])
    named = {w.split(":")[0].removeprefix("jobs[0].") for w in nj.warnings}
    assert named == {"flagsstring", "flags", "domain", "max_cpus", "p_agenda"}  # (empty: none)
    [plain] = parse_jobs([{"package": CMD, "account": "a", "prod_show": "s", "kind": "k"}])
    assert plain.warnings == []  # tags do what they do in Qube: stored and shown


def test_read_only_fields_of_a_job_read_back_are_ignored_with_a_warning() -> None:
    back = {"package": CMD, "id": 12, "todotally": {"complete": 1}, "subjobstatus": "complete",
            "lastupdate": 1.0, "timesubmit": 1.0, "subjobs": []}  # fmt: skip
    [nj] = parse_jobs([back])
    assert nj.warnings[0].startswith("jobs[0]: ignored id, todotally, subjobstatus, lastupdate")
    assert set(READ_ONLY) >= {"id", "todo", "cpustally", "agendastatus", "reason"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mailadress", "a@b.c", "jobs[0].mailadress: unknown field; did you mean 'mailaddress'?"),
        ("flagstring", "mail", "jobs[0].flagstring: unknown field; did you mean 'flagsstring'?"),
        ("prod_shwo", "x", "jobs[0].prod_shwo: unknown field; did you mean 'prod_show'?"),
        ("hostordre", "x", "jobs[0].hostordre: unknown field; did you mean 'hostorder'?"),
        ("acount", "x", "jobs[0].acount: unknown field; did you mean 'account'?"),
        ("flagsstring", "mial", "jobs[0].flagsstring: unknown job flag 'mial'; did you mean "
         "'mail'?"),
        ("waitfor", "abc", "jobs[0].waitfor: 'abc' is not a job id"),
    ],
)  # fmt: skip
def test_typos_of_known_names_are_errors_with_a_guess(field: str, value: Any,
                                                      message: str) -> None:  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        parse_jobs([{"package": CMD, field: value}])
    assert exc.value.message == message and exc.value.field == f"jobs[0].{field}"


def test_package_keys_are_free() -> None:
    pkg = {**CMD, "range": "1-3", "rangeExecution": "individual", "padding": 4, "anything": [1]}
    [nj] = parse_jobs([{"package": pkg}])
    assert nj.spec.package == pkg


def test_waitfor_and_mail_address_become_qubes_fields() -> None:
    [nj] = parse_jobs([{"package": CMD, "waitfor": [3, "4"], "dependency": "5",
                        "mail_address": "a@b.c"}])  # fmt: skip
    assert nj.spec.dependency == "5,link-done-job-3,link-done-job-4"
    assert nj.spec.mailaddress == "a@b.c" and nj.warnings == []
    [nj] = parse_jobs([{"package": CMD, "mail_address": "x@y", "mailaddress": "a@b.c"}])
    assert nj.spec.mailaddress == "a@b.c"  # Qube's own field wins


def test_aggregate_status_and_attempts() -> None:
    assert aggregate(tally_of(["complete", "running", "failed"])) == "running"
    assert aggregate(tally_of(["complete", "retrying"])) == "pending"
    assert aggregate(tally_of(["complete", "blocked"])) == "blocked"
    assert aggregate(tally_of(["complete", "killed", "failed"])) == "failed"
    assert aggregate(tally_of(["complete", "killed"])) == "killed"
    assert aggregate(tally_of(["complete", "complete"])) == "complete"
    assert aggregate(tally_of([])) == ""
    assert attempts(0, "pending", None) == 0 and attempts(1, "running", 5.0) == 2
    assert attempts(2, "failed", 5.0) == 3 and attempts(0, "killed", None) == 0


def _row() -> dict[str, Any]:
    job = {"id": 12, "name": "j", "label": "l", "pgrp": 12, "pid": None, "user": "u",
           "priority": 1, "status": "running", "prototype": "cmdrange", "cpus": 2,
           "reason": "", "todo": 2, "todotally": {"complete": 1, "running": 1},
           "timesubmit": 10.0, "timestart": 11.0, "timecomplete": None, "lastupdate": 12.0,
           "package": dict(CMD), "fields": {"retrywork": 2, "retrysubjob": 1,
                                            "retrywork_delay": 5.0, "account": "acc"}}  # fmt: skip
    subs = [{"job_id": 12, "subid": i, "status": st, "host": "h1", "retry": 0, "work": None,
             "timestart": 11.0, "timecomplete": None}
            for i, st in enumerate(("running", "complete"))]  # fmt: skip
    items = (("1", "complete", 1, {"out": "a"}, 11.0), ("2", "pending", None, None, None))
    work = [{"job_id": 12, "name": n, "seq": i, "status": st, "subid": sub, "host": "h1",
             "retry": 0, "exit_code": None, "result": res, "timestart": ts, "timecomplete": None}
            for i, (n, st, sub, res, ts) in enumerate(items)]  # fmt: skip
    return {**job, "subjobs": subs, "agenda": work}


def test_the_apis_job_view_carries_qubes_shapes() -> None:
    d = convert.job_detail(_row())
    assert (d.subjobstatus, d.agendastatus, d.lastupdate) == ("running", "running", 12.0)
    assert d.cpustally["running"] == 1 and d.cpustally["complete"] == 1
    assert (d.subjobs[0].id, d.subjobs[0].pid, d.subjobs[0].count) == ("12.0", 12, 1)
    w = d.agenda[0]
    assert (w.id, w.pid, w.count, w.resultpackage) == ("12:1", 12, 1, {"out": "a"})


def test_jobinfo_gives_qubes_shapes_and_keeps_the_targets() -> None:
    detail = convert.job_detail(_row()).model_dump()
    job = qb._job_out(detail, {"agenda", "subjobs"}, None)
    assert (job["subjobstatus"], job["agendastatus"], job["todo"]) == ("running", "running", 2)
    assert job["todotally"]["badlogin"] == 0 and job["cpustally"]["running"] == 1
    assert job["account"] == "acc" and job["prod_show"] == "" and job["lastupdate"] == 12.0
    sub = job["subjobs"][1]
    assert (sub["id"], sub["pid"], sub["host"], sub["status"]) == (1, 12, "h1", "complete")
    assert (sub["count"], sub["retry"], sub["target"]) == (1, 1, "12.1")
    assert "%02d" % sub["id"] == "01"  # noqa: UP031  (what studio scripts print)
    done, todo = job["agenda"]
    assert (done["pid"], done["subid"], done["name"], done["count"]) == (12, 1, "1", 1)
    assert done["resultpackage"] == {"out": "a"} and done["package"] == {}
    assert (done["retry"], done["retrydelay"], done["id"]) == (2, 5.0, "12:1")
    assert (todo["subid"], todo["count"], todo["resultpackage"]) == (-1, 0, {})
    # the control verbs take them as targets: "12.1", "12:1"
    assert qb._parse("kill", sub) == "12.1" and qb._work_targets("x", [done]) == ["12:1"]


def test_a_job_read_back_by_jobinfo_can_be_submitted_again() -> None:
    back = dict(qb._job_out(convert.job_detail(_row()).model_dump(), {"agenda", "subjobs"}, None))
    back["status"] = "pending"
    [nj] = parse_jobs([back])
    assert [n for n, _ in nj.agenda] == ["1", "2"] and nj.spec.account == "acc"
    assert nj.warnings[0].startswith("jobs[0]: ignored id, ")
    assert "the read-only fields of agenda items" in nj.warnings[0]
    # an item's own package (Qube's Work.package) is kept: issue 18
    [own] = parse_jobs([{"package": CMD, "agenda": ["1", {"name": "2", "package": {"a": 1}}]}])
    assert own.packages == {"2": {"a": 1}}
