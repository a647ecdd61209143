"""What triggerfish.qb asks of the supervisor and how it reads the answers, against httpx's
MockTransport: control verbs (and Qube's leniency on state conflicts), jobinfo, hist, errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import triggerfish.qb as qb
from triggerfish.client import Client, ClientError

Handler = Callable[[httpx.Request], httpx.Response]


class Farm:
    """A fake supervisor: records requests, answers from a handler."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.handler: Handler = lambda req: httpx.Response(500)

    def __call__(self, req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content) if req.content else None
        self.requests.append((req.method, str(req.url.copy_with(scheme="http")), body))
        return self.handler(req)


@pytest.fixture
def farm() -> Iterator[Farm]:
    f = Farm()
    qb.set_client(Client("http://farm:1", transport=httpx.MockTransport(f)))
    yield f
    qb.set_client(None)


def _err(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


def _control_ok(req: httpx.Request) -> httpx.Response:
    body = json.loads(req.content)
    results = [{"target": t, "status": "pending"} for t in body["targets"]]
    return httpx.Response(200, json={"results": results})


def test_job_verbs_send_qube_ids_in_one_request(farm: Farm) -> None:
    farm.handler = _control_ok
    assert qb.unblock(12, "13", "14.0", [15, {"id": 16}]) == ["12", "13", "14.0", "15", "16"]
    assert farm.requests[-1][2] == {
        "action": "unblock",
        "targets": ["12", "13", "14.0", "15", "16"],
    }
    for verb in (qb.kill, qb.block, qb.retry, qb.requeue):
        assert verb("12") == ["12"]
        assert farm.requests[-1][2]["action"] == verb.__name__
    assert qb.remove(12, "13.0") == [12, 13]
    assert farm.requests[-1][2] == {"action": "remove", "targets": ["12", "13.0"]}


def test_work_verbs_and_their_aliases(farm: Farm) -> None:
    farm.handler = _control_ok
    assert qb.workunblock("12:5") == ["12:5"]
    assert farm.requests[-1][2] == {"action": "unblock", "targets": ["12:5"]}
    assert qb.retrywork(["12:25-29", "12:a b"], "13:x") == ["12:25-29", "12:a b", "13:x"]
    work = {"id": "12:7", "job": 12, "name": "7"}
    qube_work = {"pid": 12, "name": "8"}
    assert qb.blockwork(work, qube_work) == ["12:7", "12:8"]
    pairs = [
        (qb.unblockwork, "unblock"), (qb.blockwork, "block"), (qb.killwork, "kill"),
        (qb.retrywork, "retry"), (qb.requeuework, "requeue"), (qb.workblock, "block"),
        (qb.workkill, "kill"), (qb.workretry, "retry"), (qb.workrequeue, "requeue"),
    ]  # fmt: skip
    for func, action in pairs:
        func("1:1")
        assert farm.requests[-1][2]["action"] == action


def test_a_conflict_leaves_that_target_out_as_qube_does(farm: Farm) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        if "13" in body["targets"]:
            return _err(409, "conflict", "cannot unblock 13: it is running, not blocked")
        return _control_ok(req)

    farm.handler = handler
    assert qb.unblock(12, 13, 14) == ["12", "14"]
    assert [r[2]["targets"] for r in farm.requests] == [["12", "13", "14"], ["12"], ["13"], ["14"]]
    farm.requests.clear()
    assert qb.unblock(13) == []
    assert len(farm.requests) == 1
    with pytest.raises(qb.ConflictError, match="it is running, not blocked") as exc:
        qb.unblock(12, 13, strict=True)
    assert exc.value.status == 409 and exc.value.field is None


def test_server_refusals_become_qb_errors_with_the_servers_message(farm: Farm) -> None:
    farm.handler = lambda req: _err(404, "not_found", "target '99': job 99 does not exist")
    with pytest.raises(qb.NotFoundError, match="job 99 does not exist"):
        qb.kill(99)
    with pytest.raises(qb.NotFoundError):
        qb.unblock(98, 99)  # not a conflict: no retry target by target, the error stands
    farm.handler = lambda req: _err(422, "invalid", "fields.pgrp: cannot be modified")
    with pytest.raises(qb.InvalidError, match=r"fields\.pgrp") as inv:
        qb.modify({"pgrp": 3}, 12)
    assert isinstance(inv.value, ValueError)
    farm.handler = lambda req: _err(500, "error", "internal error")
    with pytest.raises(ClientError, match="internal error") as other:
        qb.kill(12)
    assert type(other.value) is ClientError


def test_modify_forms(farm: Farm) -> None:
    farm.handler = _control_ok
    assert qb.modify({"priority": 5}, 12, "13") == [12, 13]
    assert farm.requests[-1][2] == {
        "action": "modify", "targets": ["12", "13"], "fields": {"priority": 5},
    }  # fmt: skip
    assert qb.modify(12, priority=6, notes="n") == [12]
    assert farm.requests[-1][2]["fields"] == {"priority": 6, "notes": "n"}
    assert qb.modify({"priority": 7}, 12, cpus=2) == [12]
    assert farm.requests[-1][2]["fields"] == {"priority": 7, "cpus": 2}
    assert qb.modify({"id": 12, "name": "x"}, priority=1) == [12]  # a job dict: triggerfish form
    assert farm.requests[-1][2] == {"action": "modify", "targets": ["12"],
                                    "fields": {"priority": 1}}  # fmt: skip


def test_submit_sends_one_list_and_warns(farm: Farm) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        jobs = [{"id": 20 + i, "label": f"j{i}", "pgrp": 20, "status": "pending", "name": ""}
                for i, _ in enumerate(json.loads(req.content))]  # fmt: skip
        return httpx.Response(201, json={"jobs": jobs, "warnings": ["label 'ribgen'? ribGen"]})

    farm.handler = handler
    a = {"name": "a", "package": {"cmdline": "true"}, "user": "ann"}
    with pytest.warns(qb.TriggerWarning, match="ribGen"):
        out = qb.submit(a, [a, a], deferTableCreation=False)
    assert [j["id"] for j in out] == [20, 21, 22] and isinstance(out[0], qb.Job)
    assert out[0] == {"id": 20, "label": "j0", "pgrp": 20, "status": "pending", "name": ""}
    method, url, body = farm.requests[-1]
    assert (method, url) == ("POST", "http://farm:1/api/v1/jobs") and len(body) == 3


def _job(i: int, **kw: Any) -> dict[str, Any]:
    base = {"id": i, "name": f"j{i}", "label": f"l{i}", "pgrp": 1, "pid": None, "user": "u",
            "priority": 9999, "status": "pending", "prototype": "cmdline", "cpus": 1,
            "reason": "", "todo": 0, "todotally": {}, "timesubmit": 100.0 + i}  # fmt: skip
    return {**base, **kw}


def _detail(i: int, **kw: Any) -> dict[str, Any]:
    return {**_job(i, **kw), "package": {"cmdline": "true"},
            "fields": {"notes": "n", "callbacks": [{"triggers": "x"}]},
            "subjobs": [{"id": f"{i}.0", "subid": 0, "status": "pending"}],
            "agenda": [{"id": f"{i}:1", "job": i, "name": "1", "status": "pending"}]}  # fmt: skip


def test_jobinfo_by_id_reads_each_job_and_skips_missing_ones(farm: Farm) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        jid = int(req.url.path.rsplit("/", 1)[1])
        if jid == 9:
            return _err(404, "not_found", "job 9 does not exist")
        return httpx.Response(200, json=_detail(jid))

    farm.handler = handler
    [job] = qb.jobinfo("-id", 5)
    assert (job["id"], job["notes"], job["package"]) == (5, "n", {"cmdline": "true"})
    assert "agenda" not in job and "subjobs" not in job and "callbacks" not in job
    assert "fields" not in job and isinstance(job, qb.Job)
    assert farm.requests[-1][1] == "http://farm:1/api/v1/jobs/5?agenda=false"
    assert [j["id"] for j in qb.jobinfo(id=[5, 9, 6, 5])] == [5, 6]
    [job] = qb.jobinfo(id="5", agenda=True, subjobs=True)
    assert job["agenda"][0]["pid"] == 5 and isinstance(job["agenda"][0], qb.Work)
    assert job["subjobs"][0]["pid"] == 5 and isinstance(job["subjobs"][0], qb.Subjob)
    assert farm.requests[-1][1].endswith("/jobs/5?agenda=true")
    assert qb.jobinfo(id=5, status="running") == []  # other filters still apply
    assert qb.jobinfo("-id", 9) == []


def test_jobinfo_by_filters_lists_then_filters_sorts_and_limits(farm: Farm) -> None:
    rows = [_job(1, status="complete"), _job(2, pid=1, label="render"), _job(3, priority=5)]

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/api/v1/jobs":
            return httpx.Response(200, json={"jobs": rows})
        if req.url.path.endswith("/callbacks"):
            return httpx.Response(200, json={"callbacks": [{"id": 1, "count": 2}], "runs": []})
        return httpx.Response(200, json=_detail(int(req.url.path.rsplit("/", 1)[1])))

    def listing() -> httpx.QueryParams:  # (each job listed is then read in full)
        urls = [httpx.URL(r[1]) for r in farm.requests]
        return [u for u in urls if u.path == "/api/v1/jobs"][-1].params

    farm.handler = handler
    assert [j["id"] for j in qb.jobinfo(status="done", pgrp=1)] == [1]
    params = listing()
    assert params["status"] == "complete,failed,killed" and params["pgrp"] == "1"
    assert [j["id"] for j in qb.jobinfo(pid=1)] == [2]
    assert [j["id"] for j in qb.jobinfo(name="j*")] == [1, 2, 3]  # '*' as the server takes it
    assert [j["id"] for j in qb.jobinfo(name=["j2", "j3"])] == [2, 3]
    assert [j["id"] for j in qb.jobinfo(filters={"label": ["l1", "render"]})] == [1, 2]
    assert "label" not in listing()  # two values: filtered here
    assert [j["id"] for j in qb.jobinfo(orderby="priority")] == [3, 1, 2]
    assert [j["id"] for j in qb.jobinfo(orderby="id desc", limit=2)] == [3, 2]
    assert [j["id"] for j in qb.jobinfo(minid=2, maxid=2)] == [2]
    assert [j["id"] for j in qb.jobinfo(submittedAfter=101.5)] == [2, 3]
    farm.requests.clear()
    [job] = qb.jobinfo("-pgrp", 1, "-label", "render", "-callbacks")
    assert job["callbacks"] == [{"id": 1, "count": 2}] and isinstance(job["callbacks"][0],
                                                                       qb.Callback)  # fmt: skip
    paths = [httpx.URL(r[1]).path for r in farm.requests]
    assert paths == ["/api/v1/jobs", "/api/v1/jobs/2", "/api/v1/jobs/2/callbacks"]


def test_hist_reads_the_jobs_events_in_qubes_shape(farm: Farm) -> None:
    events = [
        {"seq": 1, "time": 1000.0, "name": "submit", "type": "job", "job": 4, "subid": None,
         "work": None, "host": None, "data": {}},
        {"seq": 5, "time": 1001.0, "name": "running", "type": "work", "job": 4, "subid": 0,
         "work": "7", "host": "w1", "data": {}},
        {"seq": 6, "time": 1002.0, "name": "pending", "type": "work", "job": 4, "subid": 1,
         "work": "8", "host": None, "data": {"reason": "interrupted"}},
    ]  # fmt: skip

    def handler(req: httpx.Request) -> httpx.Response:
        after = int(req.url.params["after"])
        assert req.url.params["job"] == "4"
        batch = [e for e in events if e["seq"] > after]
        return httpx.Response(200, json={"events": batch, "last": 6, "head": 9})

    farm.handler = handler
    h = qb.hist(4)
    assert [e["seq"] for e in h] == [1, 5, 6]
    assert (h[0]["jobid"], h[0]["subid"], h[0]["workid"]) == (4, -1, -1)
    assert (h[1]["subid"], h[1]["workid"], h[1]["timestamp"]) == (0, "7", 1001)
    assert h[1]["comment"] == "work 7 running on w1"
    assert h[2]["comment"] == "work 8 pending (interrupted)"
    assert [e["seq"] for e in qb.hist("4.1")] == [6]
    assert [e["seq"] for e in qb.hist("4:7")] == [5]
    assert len(qb.hist(4, "4:7")) == 4
