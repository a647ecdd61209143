"""triggerfish.qb without a supervisor: frame ranges, the environment of a job, the adaptation
of submitted job dicts, argument checking."""

from __future__ import annotations

import json

import pytest

import triggerfish.qb as qb
from triggerfish.errors import TriggerfishError, ValidationError


def test_genframes_is_qubes() -> None:
    assert qb.genframes("1-3") == [{"name": "1"}, {"name": "2"}, {"name": "3"}]
    assert all(isinstance(w, qb.Work) for w in qb.genframes("1-3"))
    assert [w["name"] for w in qb.genframes("1-10x4")] == ["1", "5", "9"]
    assert [w["name"] for w in qb.genframes("-10--6x2")] == ["-10", "-8", "-6"]
    assert [w["name"] for w in qb.genframes("3-1")] == ["3", "2", "1"]
    assert [w["name"] for w in qb.genframes("1-3", "2-4")] == ["1", "2", "3", "4"]  # no dups
    assert [w["name"] for w in qb.genframes("1,1", removeDuplicates=False)] == ["1", "1"]
    assert [w["name"] for w in qb.genframes("ls,set,echo HI")] == ["ls", "set", "echo HI"]


def test_ranges_chunks_partitions_and_binary_sort() -> None:
    assert qb.rangesplit("1-5x2,8") == ["1", "3", "5", "8"]
    assert qb.rangechunk(5, "1-12") == ["1-5", "6-10", "11-12"]
    assert [w["name"] for w in qb.genchunks(10, "1-25")] == ["1-10", "11-20", "21-25"]
    assert qb.rangepartition(2, "1-10") == ["1-5", "6-10"]
    assert [w["name"] for w in qb.genpartitions(3, "1-10")] == ["1-4", "5-8", "9-10"]
    assert qb.binarySort(list(range(1, 11))) == [1, 10, 5, 3, 7, 2, 4, 6, 8, 9]
    assert qb.rangesplit("1-5", binarySort=True) == ["1", "5", "3", "2", "4"]
    assert qb.binarySort([]) == [] and qb.binarySort([1]) == [1]
    with pytest.raises(qb.ArgumentError, match="chunksize"):
        qb.rangechunk(0, "1-10")
    with pytest.raises(qb.ArgumentError, match="step must be at least 1"):
        qb.genframes("1-10x0")
    with pytest.raises(qb.ArgumentError, match="empty frame range"):
        qb.genframes(" , ")


def test_time_offset() -> None:
    assert qb.QB_TIME_EPOCH_OFFSET == 946702800


def test_ids_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QBJOBID", "QB_JOBID", "QBSUBID", "QB_SUBID", "QBPGRPID", "TRIGGERFISH_WORK",
                 "QB_WORK_NAME", "QB_FRAME_START", "QB_FRAME_END", "QB_FRAME_NUMBER",
                 "TRIGGERFISH_EVENT", "TRIGGERFISH_BINDINGS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for func in (qb.jobid, qb.subid, qb.pgrpid, qb.workid, qb.event, qb.bindings):
        with pytest.raises(qb.NoJobContext):
            func()
    monkeypatch.setenv("QBJOBID", "12")
    monkeypatch.setenv("QBSUBID", "3")
    monkeypatch.setenv("QBPGRPID", "10")
    assert (qb.jobid(), qb.subid(), qb.pgrpid()) == (12, 3, 10)
    monkeypatch.setenv("QB_FRAME_NUMBER", "0007")
    assert qb.workid() == "7"
    monkeypatch.setenv("QB_FRAME_START", "0001")
    monkeypatch.setenv("QB_FRAME_END", "0010")
    assert qb.workid() == "1-10"  # a chunk's name, as range agendas name them
    monkeypatch.setenv("TRIGGERFISH_WORK", "beauty")
    assert qb.workid() == "beauty"
    monkeypatch.setenv("QBJOBID", "x")
    with pytest.raises(qb.NoJobContext, match="not a number"):
        qb.jobid()
    monkeypatch.setenv("TRIGGERFISH_EVENT", json.dumps({"name": "complete", "work": "5"}))
    monkeypatch.setenv("TRIGGERFISH_BINDINGS", json.dumps({"f": "5"}))
    assert qb.event()["work"] == "5" and qb.bindings() == {"f": "5"}


def test_submit_adapts_job_dicts_as_qubes_submit_does() -> None:
    job = qb.Job()  # Qube's empty job: a name and a package to fill in
    assert job == {"name": "", "package": {}}
    job["prototype"] = ""
    job["package"] = {"cmdline": "echo QB_FRAME_NUMBER", "padding": 0, "range": "1-3"}
    job["agenda"] = qb.genframes(job["package"]["range"])
    job["agenda"][0]["status"] = "blocked"
    job["waitfor"] = [7, "8"]
    out = qb._prepare(job, 0)
    assert "prototype" not in out and "waitfor" not in out
    assert out["package"] == {"cmdline": "echo QB_FRAME_NUMBER", "padding": 0}  # agenda wins
    assert job["package"]["range"] == "1-3"  # the caller's dicts are left alone
    assert out["agenda"][0] == {"name": "1", "status": "blocked"}
    assert out["dependency"] == "link-done-job-7,link-done-job-8"
    assert out["user"]
    kept = qb._prepare({"dependency": "complete-job-3", "waitfor": 4, "user": "ann",
                        "agenda": [1, {"name": 2}]}, 0)  # fmt: skip
    assert kept["dependency"] == "complete-job-3,link-done-job-4" and kept["user"] == "ann"
    assert kept["agenda"] == ["1", {"name": "2"}]
    with pytest.raises(qb.ArgumentError, match=r"jobs\[1\]\.waitfor"):
        qb._prepare({"waitfor": True}, 1)


def test_arguments_are_checked_before_anything_is_sent() -> None:
    qb.set_url("http://127.0.0.1:9")  # nobody there: any request would fail differently
    try:
        cases = [
            (lambda: qb.kill([]), "give at least one job id"),
            (lambda: qb.kill("12x"), "target '12x'"),
            (lambda: qb.kill(1.5), "1.5 is not a job id"),  # type: ignore[arg-type]
            (lambda: qb.kill({"name": "x"}), "a job dict without 'id'"),
            (lambda: qb.remove(0), "job ids start at 1"),
            (lambda: qb.killwork(12), "names a job"),
            (lambda: qb.blockwork("12.0"), "names a job or instance"),
            (lambda: qb.retrywork([]), "give at least one 'jobid:workname'"),
            (lambda: qb.modify(), "give the job id"),
            (lambda: qb.modify("12:3", priority=1), "only jobs can be modified"),
            (lambda: qb.submit(), "give at least one job dict"),
            (lambda: qb.submit([1]), r"jobs\[0\] is 1, not a job dict"),  # type: ignore[list-item]
            (lambda: qb.submit({}, bogus=True), "unknown option"),
            (lambda: qb.jobinfo("-id", 1, "x"), "expected an option"),
            (lambda: qb.jobinfo("agenda"), "fields must be a list"),
            (lambda: qb.jobinfo(["nope"]), "unknown field 'nope'"),
            (lambda: qb.jobinfo([], [], []), "positional arguments"),
            (lambda: qb.jobinfo(status=3), "is not a string"),  # type: ignore[arg-type]
            (lambda: qb.jobinfo(limit="5"), "limit must be a whole number"),  # type: ignore[arg-type]
            (lambda: qb.jobinfo(orderby="id; drop"), "orderby"),
            (lambda: qb.jobinfo(submittedAfter="yesterday"), "submittedAfter"),  # type: ignore[arg-type]
            (lambda: qb.hist("a.b"), "target 'a.b'"),
            (lambda: qb.setsupervisor(3), "host name or URL"),  # type: ignore[arg-type]
        ]
        for call, pattern in cases:
            with pytest.raises(qb.ArgumentError, match=pattern):
                call()
    finally:
        qb.set_url(None)
    with pytest.raises(TypeError):
        qb.kill()  # type: ignore[call-arg]  # as in Qube, one id at least
    err = qb.ArgumentError("x")
    assert isinstance(err, ValueError | ValidationError | TriggerfishError)


def test_unsupported_functions_say_so() -> None:
    for func, pattern in [
        (qb.top, "priority"),
        (qb.waitfor, "qb.wait"),
    ]:
        with pytest.raises(qb.NotSupported, match=pattern) as exc:
            func("12:1")
        assert isinstance(exc.value, TriggerfishError | NotImplementedError)
    with pytest.raises(qb.NotSupported, match="updatedAfter"):
        qb.jobinfo(updatedAfter=1)


def test_setsupervisor_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIGGERFISH_URL", raising=False)
    try:
        qb.setsupervisor("farm01")
        assert qb.getsupervisor() == "http://farm01:8765"
        qb.setsupervisor("farm01:9000")
        assert qb.getsupervisor() == "http://farm01:9000"
        qb.setsupervisor("https://farm.example/")
        assert qb.getsupervisor() == "https://farm.example"
        qb.setsupervisor("")
        assert qb.getsupervisor() == "http://127.0.0.1:8765"
        monkeypatch.setenv("TRIGGERFISH_URL", "http://env:1")
        assert qb.getsupervisor() == "http://env:1"  # the module's client follows the variable
    finally:
        qb.set_url(None)
