"""``import triggerfish.qb as qb`` against a real farm (supervisor and worker processes, SQLite):
the seed's submission scripts written the Qube way, jobinfo/hist, every control verb, and the
errors of bad arguments.

The job scripts keep the seed's own style (``%`` formatting, camelCase) on purpose: they are
what studios bring over.
"""

# ruff: noqa: UP031

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import triggerfish.qb as qb
from triggerfish.cli.local import LocalFarm
from triggerfish.errors import TriggerfishError

FRAMES = "1-4"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    data = tmp_path_factory.mktemp("qb") / "farm"
    f = LocalFarm(workers=1, slots=2, data_dir=data, grace=5.0)
    f.start()
    qb.set_url(f.url, f.token)
    yield f
    qb.set_url(None)
    f.stop()


def _until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _work_status(jobid: int, name: str) -> str:
    [job] = qb.jobinfo("-id", jobid, "-agenda")
    return str({w["name"]: w["status"] for w in job["agenda"]}[name])


def _status(jobid: int) -> str:
    [job] = qb.jobinfo(id=jobid)
    return str(job["status"])


def _stage(label: str, cmd: str) -> dict[str, Any]:
    """A job dict the way Qube scripts write them: package.range *and* a genframes agenda."""
    return {
        "name": f"qb {label}",
        "label": label,
        "prototype": "cmdrange",
        "cpus": 1,
        "package": {"cmdline": cmd, "range": FRAMES, "padding": 0},
        "agenda": qb.genframes(FRAMES),
    }


def _seed_002_scripts() -> list[dict[str, Any]]:
    """Both examples of seed 002 in one pgrp, typos fixed, python callbacks as qube actions.

    First example: composite frame N waits for ribGen N and render N (the seed's ``AND&&`` is
    ``&&``, its ``ribgen`` is the label ``ribGen``, and the callbacks go on jobC, whose agenda
    they were built from). Second example: sendToDailies frame N waits for
    ``(ribGen N && render N) || composite N``.
    """
    jobA = _stage("ribGen", "sleep 0.05; echo rib QB_FRAME_NUMBER")
    jobB = _stage("render", "sleep 0.1; echo render QB_FRAME_NUMBER")
    jobC = _stage("composite", "echo comp QB_FRAME_NUMBER")
    jobD = _stage("sendToDailies", "echo dailies QB_FRAME_NUMBER")

    callbacks = []
    for work in jobC["agenda"]:
        work["status"] = "blocked"
        frameNumber = work["name"]
        triggerStr = "complete-work-ribGen-%s" % frameNumber
        triggerStr += " && "
        triggerStr += "complete-work-render-%s" % frameNumber
        callbacks.append({"triggers": triggerStr, "language": "qube", "code": "unblock-work-self"})
    jobC["callbacks"] = callbacks

    callbacks = []
    for work in jobD["agenda"]:
        work["status"] = "blocked"
        frameNumber = work["name"]
        triggerStr = "("
        triggerStr += "complete-work-ribGen-%s" % frameNumber
        triggerStr += " AND "
        triggerStr += "complete-work-render-%s" % frameNumber
        triggerStr += ")"
        triggerStr += " OR "
        triggerStr += "complete-work-composite-%s" % frameNumber
        callbacks.append({"triggers": triggerStr, "language": "qube", "code": "unblock-work-self"})
    jobD["callbacks"] = callbacks
    return [jobA, jobB, jobC, jobD]


def test_seed_002_pipeline_runs_frame_by_frame(farm: LocalFarm) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", qb.TriggerWarning)  # every label of the triggers exists
        jobs = qb.submit(_seed_002_scripts())
    assert [j["label"] for j in jobs] == ["ribGen", "render", "composite", "sendToDailies"]
    assert {j["pgrp"] for j in jobs} == {jobs[0]["id"]}
    ids = {str(j["label"]): int(j["id"]) for j in jobs}
    final = qb.wait(list(ids.values()), timeout=90)
    assert set(final.values()) == {"complete"}

    for label, jid in ids.items():
        [job] = qb.jobinfo("-id", jid)  # the callback form of seed 000/001
        assert (job["id"], job["label"], job["status"]) == (jid, label, "complete")
        assert job["todotally"]["complete"] == 4 and "agenda" not in job
        assert "submitted %(id)s: %(name)s" % job == f"submitted {jid}: qb {label}"

    [comp] = qb.jobinfo(id=ids["composite"], agenda=True, callbacks=True)
    assert [w["name"] for w in comp["agenda"]] == ["1", "2", "3", "4"]
    assert all(w["status"] == "complete" and w["pid"] == ids["composite"] for w in comp["agenda"])
    assert len(comp["callbacks"]) == 4  # one per frame, the Qube way
    assert all(cb["count"] == 1 and cb["code"] == "unblock-work-self" for cb in comp["callbacks"])
    [dailies] = qb.jobinfo(id=ids["sendToDailies"], callbacks=True)
    assert all(cb["count"] >= 1 for cb in dailies["callbacks"])

    # from the history: every composite frame started after both its inputs completed
    done: dict[tuple[str, str], int] = {}
    for label in ("ribGen", "render"):
        for h in qb.hist(ids[label]):
            if h["type"] == "work" and h["name"] == "complete":
                done[(label, h["workid"])] = h["seq"]
    started = {h["workid"]: h["seq"] for h in qb.hist(ids["composite"])
               if h["type"] == "work" and h["name"] == "running"}  # fmt: skip
    assert sorted(started) == ["1", "2", "3", "4"]
    for frame, seq in started.items():
        assert done[("ribGen", frame)] < seq and done[("render", frame)] < seq

    # hist in Qube's shape, and narrowed to one item or one instance
    history = qb.hist(ids["composite"])
    assert history[0]["name"] == "submit" and history[0]["subid"] == -1
    assert history == sorted(history, key=lambda h: h["seq"])
    assert {"jobid", "subid", "workid", "comment", "stamp", "timestamp"} <= set(history[0])
    frame3 = qb.hist(f"{ids['composite']}:3")
    assert frame3 and {h["workid"] for h in frame3} == {"3"}
    assert [h["name"] for h in frame3][-2:] == ["complete", "done"]
    assert any("work 3 running on" in h["comment"] for h in frame3)
    inst = qb.hist(f"{ids['composite']}.0")
    assert inst and {h["subid"] for h in inst} == {0}


def test_seed_typos_are_syntax_errors(farm: LocalFarm) -> None:
    jobs = _seed_002_scripts()[:3]
    jobs[2]["callbacks"][0]["triggers"] = "complete-work-ribGen-1 AND&& complete-work-render-1"
    with pytest.raises(qb.InvalidError, match=r"column 27.*AND&&"):
        qb.submit(jobs)
    assert qb.jobinfo(label="composite", status="active") == []  # nothing of it was stored
    # the seed's lower-case 'ribgen' is accepted with a warning naming the label that exists
    jobs = _seed_002_scripts()[:3]
    for cb in jobs[2]["callbacks"]:
        cb["triggers"] = cb["triggers"].replace("ribGen", "ribgen")
    jobs[0]["status"] = "blocked"
    with pytest.warns(qb.TriggerWarning, match="ribGen"):
        submitted = qb.submit(jobs)
    assert qb.remove(submitted) == [j["id"] for j in submitted]
    assert qb.jobinfo(pgrp=submitted[0]["pgrp"]) == []


def test_seed_002_python_callbacks_when_supported(farm: LocalFarm) -> None:
    """The seed's own python callback code (typos fixed), where this version runs python
    callbacks: ``qb.workunblock`` and the repeated ``qb.unblock(jobId)`` (a no-op once the job
    runs, as in Qube) from inside the callback runner."""
    jobs = _seed_002_scripts()[:3]
    callbacks = []
    for work in jobs[2]["agenda"]:
        frameNumber = work["name"]
        cbCode = "jobId = qb.jobid()\n"
        cbCode += 'qb.workunblock("%%s:%s" %% jobId)\n' % frameNumber
        cbCode += "qb.unblock(jobId)\n"
        triggerStr = "complete-work-ribGen-%s" % frameNumber
        triggerStr += " && "
        triggerStr += "complete-work-render-%s" % frameNumber
        callbacks.append({"triggers": triggerStr, "language": "python", "code": cbCode})
    jobs[2]["callbacks"] = callbacks
    try:
        submitted = qb.submit(jobs)
    except qb.InvalidError as exc:
        assert "python" in exc.message and "not supported" in exc.message
        pytest.skip(f"this version refuses python callbacks: {exc.message}")
    ids = [int(j["id"]) for j in submitted]
    assert set(qb.wait(ids, timeout=120).values()) == {"complete"}
    [comp] = qb.jobinfo(id=ids[2], callbacks=True)
    assert [cb["count"] for cb in comp["callbacks"]] == [1, 1, 1, 1]


def test_jobinfo_forms(farm: LocalFarm) -> None:
    jobs = qb.submit(
        qb.Job({"label": "a", "agenda": qb.genframes("1-2")}, name="info a",
               prototype="cmdrange", package={"cmdline": "true", "range": "1-2"}),
        [{"name": "info b", "label": "b", "status": "blocked", "package": {"cmdline": "true"}}],
        deferTableCreation=True,
    )  # fmt: skip
    a, b = (int(j["id"]) for j in jobs)
    qb.wait(a, timeout=30)
    assert [j["id"] for j in qb.jobinfo(id=[a, b])] == [a, b]
    assert [j["id"] for j in qb.jobinfo("-id", f"{a},{b}")] == [a, b]
    assert [j["id"] for j in qb.jobinfo("-pgrp", a)] == [a, b]
    assert [j["id"] for j in qb.jobinfo(pgrp=a, status="blocked")] == [b]
    assert [j["id"] for j in qb.jobinfo(filters={"pgrp": a, "label": ["a", "b"]})] == [a, b]
    assert [j["id"] for j in qb.jobinfo(["agenda"], {"pgrp": a}, orderby="id DESC")] == [b, a]
    assert [j["id"] for j in qb.jobinfo(pgrp=a, limit=1)] == [a]
    assert [j["id"] for j in qb.jobinfo(pgrp=a, minid=b)] == [b]
    assert a in [j["id"] for j in qb.jobinfo(status="done")]
    assert b in [j["id"] for j in qb.jobinfo(status=["blocked", "running"])]
    [ja] = qb.jobinfo(id=a, agenda=True, subjobs=True)
    assert [w["name"] for w in ja["agenda"]] == ["1", "2"]
    assert ja["subjobs"][0]["pid"] == a and ja["package"] == {"cmdline": "true"}
    assert ja["user"]  # filled in with the login name, as Qube does
    assert qb.jobinfo(id=999_999) == []  # Qube: no entry, no error
    assert qb.jobinfo(id=[a, 999_999])[0]["id"] == a
    qb.remove(b)


def test_a_qube_submission_tools_job_dict_and_qubes_shapes_back(farm: LocalFarm) -> None:
    """The job dict a Qube submission tool builds goes through unchanged; the fields with no
    effect here are named in warnings; jobinfo answers in Qube's shapes (issue 18, item 0)."""
    job = {
        "name": "shot010 comp v003", "prototype": "cmdrange", "cpus": 2, "priority": 500,
        "package": {"cmdline": "echo frame QB_FRAME_NUMBER", "range": FRAMES,
                    "rangeExecution": "individual", "padding": 4},
        "hostorder": "-host.processors.avail", "flagsstring": "auto_wrangling,mail",
        "mailaddress": "comp@studio.example", "account": "showA", "kind": "comp",
        "prod_show": "showA", "prod_shot": "010", "prod_seq": "sq01", "prod_client": "client",
        "prod_dept": "comp", "prod_custom1": "v003", "restrictions": "", "groups": "",
        "requirements": "host.processors >= 1", "reservations": "", "notes": "from a tool",
    }  # fmt: skip
    with pytest.warns(
        qb.TriggerWarning, match=r"jobs\[0\]\.flagsstring: stored, but has no effect"
    ):
        [sub] = qb.submit(job)
    jid = int(sub["id"])
    assert qb.wait(jid, timeout=60) == {jid: "complete"}
    [info] = qb.jobinfo(id=jid, subjobs=True, agenda=True)
    assert (info["subjobstatus"], info["agendastatus"]) == ("complete", "complete")
    assert info["todo"] == 4 and info["todotally"]["complete"] == 4
    assert info["cpustally"]["complete"] + info["cpustally"]["pending"] == 2
    assert isinstance(info["lastupdate"], float)
    for key in (
        "account",
        "kind",
        "prod_show",
        "prod_shot",
        "prod_seq",
        "prod_client",
        "prod_dept",
        "prod_custom1",
        "flagsstring",
        "mailaddress",
        "notes",
    ):
        assert info[key] == job[key], key
    assert info["prod_custom5"] == "" and info["flags"] == 16384 | 1024
    assert info["package"]["rangeExecution"] == "individual"
    assert [s["id"] for s in info["subjobs"]] == [0, 1]
    assert ["%02d" % s["id"] for s in info["subjobs"]] == ["00", "01"]  # as studio tools print
    assert all(s["pid"] == jid and isinstance(s["count"], int) for s in info["subjobs"])
    assert [w["name"] for w in info["agenda"]] == ["1", "2", "3", "4"]
    for w in info["agenda"]:
        assert w["pid"] == jid and w["subid"] in (0, 1) and w["status"] == "complete"
        assert w["count"] == 1 and isinstance(w["resultpackage"], dict) and w["host"]
    # triggerfish's own ids still name them for the verbs
    assert qb.retrywork(info["agenda"][0]) == [f"{jid}:1"]
    assert qb.wait(jid, timeout=60) == {jid: "complete"}
    assert qb.modify({"prod_shot": "020", "account": "showB"}, jid) == [jid]  # as Qube's modify
    [info] = qb.jobinfo(id=jid)
    assert (info["prod_shot"], info["account"], info["kind"]) == ("020", "showB", "comp")
    assert qb.remove(jid) == [jid]


def test_job_verbs(farm: LocalFarm) -> None:
    [job] = qb.submit({"name": "verbs", "package": {"cmdline": "sleep 30"}})
    jid = int(job["id"])
    _until("running", lambda: _status(jid) == "running")
    assert qb.block(jid) == [str(jid)] and _status(jid) == "blocked"
    assert qb.block(jid) == []  # already blocked: left out, as in Qube
    with pytest.raises(qb.ConflictError, match=f"cannot block {jid}: it is blocked"):
        qb.block(jid, strict=True)
    assert qb.unblock(str(jid)) == [str(jid)]
    _until("running again", lambda: _status(jid) == "running")
    assert qb.block(f"{jid}.0") == [f"{jid}.0"]  # Qube's "jobid.subid"
    assert qb.unblock([f"{jid}.0"]) == [f"{jid}.0"]
    _until("running again", lambda: _status(jid) == "running")

    assert qb.modify({"priority": 7, "notes": "qube form"}, jid) == [jid]
    assert qb.modify(jid, priority=8) == [jid]
    [info] = qb.jobinfo(id=jid)
    assert (info["priority"], info["notes"]) == (8, "qube form")

    assert qb.kill(jid) == [str(jid)] and _status(jid) == "killed"
    assert qb.kill(jid) == []
    assert qb.retry(jid) == [str(jid)]
    _until("running after retry", lambda: _status(jid) == "running")
    assert qb.kill(job) == [str(jid)]  # a job dict as returned by submit
    assert qb.requeue(jid) == [str(jid)] and _status(jid) == "blocked"
    assert qb.remove(jid) == [jid]
    assert qb.jobinfo(id=jid) == []
    assert [h["name"] for h in qb.hist(jid)][-1] == "removed"
    assert any(h["name"] == "modified" for h in qb.hist(jid))


def test_work_verbs(farm: LocalFarm) -> None:
    agenda = qb.genframes("1-3")
    for w in agenda:
        w["status"] = "blocked"
    [job] = qb.submit({"name": "work verbs", "prototype": "cmdrange", "agenda": agenda,
                       "package": {"cmdline": "sleep 0.2"}})  # fmt: skip
    jid = int(job["id"])
    assert qb.workunblock(f"{jid}:1") == [f"{jid}:1"]  # the seed's spelling
    _until("1 complete", lambda: _work_status(jid, "1") == "complete")
    assert qb.blockwork(f"{jid}:1") == []  # ended: not blocked, no error
    assert qb.retrywork(f"{jid}:1") == [f"{jid}:1"]
    _until("1 complete again", lambda: _work_status(jid, "1") == "complete")
    assert qb.killwork(f"{jid}:2") == [f"{jid}:2"] and _work_status(jid, "2") == "killed"
    assert qb.requeuework(f"{jid}:2") == [f"{jid}:2"] and _work_status(jid, "2") == "blocked"
    assert qb.blockwork(f"{jid}:3", f"{jid}:2") == []  # both already blocked
    assert sorted(qb.unblockwork([f"{jid}:2", f"{jid}:3"])) == [f"{jid}:2", f"{jid}:3"]
    assert qb.wait(jid, timeout=30) == {jid: "complete"}
    with pytest.raises(qb.NotFoundError, match="has no work item '9'"):
        qb.retrywork(f"{jid}:9")
    assert qb.completework(f"{jid}:1") == []  # ended already: left out, no error
    qb.remove(jid)


def test_what_a_command_on_a_worker_sees(farm: LocalFarm) -> None:
    code = "import triggerfish.qb as qb; print(qb.jobid(), qb.subid(), qb.workid(), qb.pgrpid())"
    [job] = qb.submit({"name": "env", "agenda": ["a"],
                       "package": {"cmdline": f"{sys.executable} -c '{code}'"}})  # fmt: skip
    jid = int(job["id"])
    assert qb.wait(jid, timeout=30) == {jid: "complete"}
    with farm.client() as c:
        log = c.log(jid, "a")
    assert f"{jid} 0 a {jid}" in log.splitlines()


def test_bad_arguments_give_clear_errors(farm: LocalFarm) -> None:
    for call, pattern in [
        (lambda: qb.kill("abc"), "kill: target 'abc': expected JOB"),
        (lambda: qb.kill(True), "kill: True is not a job id"),
        (lambda: qb.kill([]), "kill: give at least one job id"),
        (lambda: qb.unblockwork("12"), r"unblockwork: '12' names a job.*'jobid:workname'"),
        (lambda: qb.submit([]), "submit: give at least one job dict"),
        (lambda: qb.submit("job"), "submit: 'job' is not a job dict"),  # type: ignore[arg-type]
        (lambda: qb.modify({"priority": 5}), "give the job id"),
        (lambda: qb.modify(12), "give at least one field"),
        (lambda: qb.jobinfo("-bogus", 1), "unknown option '-bogus'"),
        (lambda: qb.jobinfo("-id"), "option '-id' needs a value"),
        (lambda: qb.jobinfo(id="x"), "id='x' is not a whole number"),
        (lambda: qb.jobinfo(filters={"cluster": "/"}), "filter 'cluster' is not offered"),
        (lambda: qb.genframes(""), "empty frame range"),
        (lambda: qb.genframes("1-3x0"), "step must be at least 1"),
    ]:
        with pytest.raises(qb.ArgumentError, match=pattern):
            call()
    assert issubclass(qb.ArgumentError, ValueError)
    with pytest.raises(qb.NotFoundError, match="job 999999 does not exist") as nf:
        qb.kill(999_999)
    assert isinstance(nf.value, TriggerfishError) and nf.value.status == 404
    with pytest.raises(qb.InvalidError, match=r"jobs\[0\]\.package\.cmdline"):
        qb.submit({"name": "no command"})
    with pytest.raises(qb.InvalidError, match=r"jobs\[0\]\.flagstring: unknown field; did you "
                       "mean 'flagsstring'"):  # fmt: skip
        qb.submit({"package": {"cmdline": "true"}, "flagstring": "mail"})
    with pytest.raises(qb.InvalidError, match=r"jobs\[0\]\.timelimit: "):
        qb.submit({"package": {"cmdline": "true"}, "timelimit": -1})
    [job] = qb.submit({"name": "held", "status": "blocked", "package": {"cmdline": "true"}})
    with pytest.raises(qb.InvalidError, match=r"fields\.pgrp: cannot be modified"):
        qb.modify({"pgrp": 1}, job["id"])
    assert qb.preempt(job["id"]) == []  # (Qube's rule: a job not running is left out)
    qb.remove(job["id"])


def test_url_from_the_environment(farm: LocalFarm, monkeypatch: pytest.MonkeyPatch) -> None:
    qb.set_url(None)
    try:
        monkeypatch.delenv("TRIGGERFISH_TOKEN", raising=False)
        for key, value in farm.client_env().items():  # the token: the data dir's admin.token
            monkeypatch.setenv(key, value)
        assert qb.getsupervisor() == farm.url
        assert isinstance(qb.jobinfo(limit=1), list)
        monkeypatch.setenv("TRIGGERFISH_URL", "http://127.0.0.1:9")  # nobody listens there
        with pytest.raises(TriggerfishError, match="cannot reach the supervisor"):
            qb.jobinfo(limit=1)
    finally:
        qb.set_url(farm.url, farm.token)


def test_waitfor_dependency_from_qube_submit(farm: LocalFarm) -> None:
    [first] = qb.submit({"name": "first", "package": {"cmdline": "sleep 0.2"}})
    [second] = qb.submit({"name": "second", "waitfor": first["id"],
                          "package": {"cmdline": "true"}})  # fmt: skip
    [info] = qb.jobinfo(id=second["id"])
    assert info["dependency"] == f"link-done-job-{first['id']}"
    assert qb.wait(first, second, timeout=30) == {first["id"]: "complete",
                                                  second["id"]: "complete"}  # fmt: skip
    ran = {h["name"]: h["seq"] for h in qb.hist(second["id"]) if h["type"] == "job"}
    done = {h["name"]: h["seq"] for h in qb.hist(first["id"]) if h["type"] == "job"}
    assert done["complete"] < ran["running"]


def test_wait_on_a_job_behind_a_failed_upstream_raises_cannot_finish(farm: LocalFarm) -> None:
    up, down = qb.submit([
        {"name": "up", "label": "up", "package": {"cmdline": "exit 2"}},
        {"name": "down", "package": {"cmdline": "true"}, "dependency": "link-complete-job-up"},
    ])  # fmt: skip
    with pytest.raises(qb.CannotFinish) as info:
        qb.wait(up, down, timeout=60)
    assert isinstance(info.value, TriggerfishError)
    assert info.value.statuses == {up["id"]: "failed", down["id"]: "blocked"}
    assert info.value.stuck == {down["id"]: f"waits for complete-job-up: job {up['id']} failed"}
    assert f"job {down['id']} (blocked) waits for complete-job-up" in info.value.message
