"""Bad input wedges nothing (both stores, a real supervisor and workers, raw HTTP).

Text no store or JSON can hold (a NUL, a lone surrogate) is refused 422 naming the field on
every route, while innocent work goes on; a task that returns or raises such text does not
stop its worker; numbers out of range are refused naming the field.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from farms import StartFarm
from hypothesis import given, settings
from hypothesis import strategies as st

from triggerfish.cli.local import LocalFarm
from triggerfish.engine import submit as sub
from triggerfish.engine.loop import Engine
from triggerfish.model.jobspec import parse_jobs
from triggerfish.store import reads
from triggerfish.store.store import Store
from triggerfish.tasks import TaskFailed, Tasks

APP = "badtext_app"
BAD = ["\\u0000", "\\ud800"]  # as raw JSON escapes (what a client can send)
PLACE = "@@"  # where a bad escape goes in a raw body


def _http(farm: LocalFarm) -> httpx.Client:
    return httpx.Client(
        base_url=farm.url + "/api/v1",
        headers={"authorization": f"Bearer {farm.token}", "content-type": "application/json"},
        timeout=60,
    )


def _raw(body: Any, bad: str) -> bytes:
    """``body`` as JSON with each PLACE replaced by the raw escape ``bad``."""
    return json.dumps(body).replace(PLACE, bad).encode()


def _job(**kw: Any) -> dict[str, Any]:
    return {"name": "innocent", "package": {"cmdline": "echo ok"}, **kw}


# (method, path, body with PLACE, the field named)
CASES: list[tuple[str, str, Any, str]] = [
    ("POST", "/jobs", [_job(name=f"n{PLACE}")], "jobs[0].name"),
    ("POST", "/jobs", {"jobs": [_job(package={"cmdline": f"echo {PLACE}"})]},
     "jobs[0].package.cmdline"),
    ("POST", "/jobs", [_job(env={"A": f"x{PLACE}"})], "jobs[0].env.A"),
    ("POST", "/jobs", [_job(), _job(env={f"K{PLACE}": "v"})], "jobs[1].env.K\ufffd"),
    ("POST", "/jobs", [_job(package={"cmdline": "echo", "extra": [1, f"{PLACE}"]})],
     "jobs[0].package.extra[1]"),
    ("POST", "/tasks", {"target": "m:f", "params": {"p": f"{PLACE}"}}, "params.p"),
    ("POST", "/tasks", {"target": "m:f", "name": f"{PLACE}"}, "name"),
    ("POST", "/tasks/many", {"tasks": [{"target": "m:f"}, {"target": "m:f", "params": PLACE}]},
     "tasks[1].params"),
    ("POST", "/schedules", {"target": "m:f", "every": 60, "key": PLACE}, "key"),
    ("POST", "/callbacks", {"triggers": "submit-job-*", "code": f"print({PLACE})"}, "code"),
    ("POST", "/users", {"name": f"u{PLACE}"}, "name"),
    ("POST", "/jobs/1/modify", {"fields": {"name": f"x{PLACE}"}}, "fields.name"),
    ("POST", "/control", {"action": "kill", "targets": [f"1{PLACE}"]}, "targets[0]"),
    ("POST", "/workers/register", {"name": "h", "slots": 1, "properties": {"os": PLACE}},
     "properties.os"),
]  # fmt: skip


def _send(h: httpx.Client, method: str, path: str, body: Any, bad: str) -> httpx.Response:
    return h.request(method, path, content=_raw(body, bad))


def test_bad_text_is_refused_naming_the_field_while_innocent_work_goes_on(
    start_farm: StartFarm, tasks_app: str, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=2)
    with _http(farm) as h, ThreadPoolExecutor(8) as pool:
        first = h.post("/jobs", json=[_job()])
        assert first.status_code == 201, first.text
        innocent = pool.submit(lambda: h.post("/jobs", json=[_job(name="also innocent")]))
        bad = [
            (pool.submit(_send, h, method, path, body, esc), field)
            for esc in BAD
            for method, path, body, field in CASES
        ]
        for fut, field in bad:
            r = fut.result()
            assert r.status_code == 422, (field, r.text)
            err = r.json()["error"]
            assert (err["code"], err["field"]) == ("invalid", field), r.text
        assert innocent.result().status_code == 201
        # a NUL in a query parameter or the path: refused, naming it
        r = h.get("/jobs", params={"name": "a\x00"})
        assert (r.status_code, r.json()["error"]["field"]) == (422, "name")
        r = h.get("/jobs/1/work/a%00b")
        assert (r.status_code, r.json()["error"]["field"]) == (422, "path")
    with farm.client() as c:
        ids = [first.json()["jobs"][0]["id"], innocent.result().json()["jobs"][0]["id"]]
        done = c.wait(ids, timeout=60)
        assert set(done.values()) == {"complete"}, done
        # nothing wedged: a task is added and runs, on PostgreSQL too
        with Tasks(c) as tasks:
            assert tasks.result(tasks.add("tasks_app:echo", 1), timeout=60) == {"got": 1}
        assert all("\x00" not in j["name"] for j in c.jobs())


def test_one_bad_submission_among_many_fails_alone(start_farm: StartFarm, db_url: str) -> None:
    farm = start_farm(db_url, workers=0)
    bodies = [_raw([_job(name=f"job {i}")], "") for i in range(40)]
    bodies[17] = _raw([_job(name=f"bad {PLACE}")], BAD[0])
    bodies[29] = _raw({"target": "m:f", "params": PLACE}, BAD[1])
    with _http(farm) as h, ThreadPoolExecutor(40) as pool:
        paths = ["/tasks" if i == 29 else "/jobs" for i in range(40)]
        answers = list(pool.map(lambda p, b: h.post(p, content=b), paths, bodies))
    codes = [r.status_code for r in answers]
    assert codes[17] == 422 and codes[29] == 422
    assert codes[:17] + codes[18:29] + codes[30:] == [201] * 38, codes


def test_numbers_out_of_range_are_refused_naming_the_field(
    start_farm: StartFarm, tmp_path: Any
) -> None:
    farm = start_farm(f"sqlite:///{tmp_path / 'tf.db'}", workers=0)
    cases = [
        ("/tasks", b'{"target": "m:f", "at": 1e308}', "at"),
        ("/tasks", b'{"target": "m:f", "retry_delay": 1e308}', "retry_delay"),
        ("/tasks/many", b'{"tasks": [{"target": "m:f", "timeout": 1e300}]}', "tasks[0].timeout"),
        ("/schedules", b'{"target": "m:f", "every": 60, "start": 1e308}', "start"),
        ("/jobs", b'[{"package": {"cmdline": "x", "range": "1-100000000000000000000"}}]',
         "jobs[0].package.range"),
        ("/jobs", b'[{"package": {"cmdline": "x"}, "agenda": "100000000000000000000"}]',
         "jobs[0].agenda"),
        ("/jobs", b'[{"package": {"cmdline": "x"}, "priority": 100000000000000000000}]',
         "jobs[0].priority"),
        ("/jobs", b'[{"package": {"cmdline": "x"}, "timeout": 1e308}]', "jobs[0].timeout"),
        ("/jobs", b'[{"prototype": "task", "package": {"target": "m:f", "timeout": 1e308}}]',
         "jobs[0].package.timeout"),
    ]  # fmt: skip
    with _http(farm) as h:
        for path, body, field in cases:
            r = h.post(path, content=body)
            assert r.status_code == 422, (path, body, r.text)
            assert r.json()["error"]["field"] == field, r.text
        assert h.post("/tasks", json={"target": "m:f", "at": 253402300799}).status_code == 201


def test_a_task_returning_or_raising_bad_text_does_not_stop_its_worker(
    start_farm: StartFarm, tasks_app: str, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c, Tasks(c) as tasks:
        nul = tasks.add(f"{APP}:nul")
        sur = tasks.add(f"{APP}:surrogate")
        boom = tasks.add(f"{APP}:raise_nul")
        assert tasks.result(nul, timeout=60) == {"text": "a\ufffdb", "k\ufffd": 1}
        assert tasks.result(sur, timeout=60) == "x\ufffdy"
        with pytest.raises(TaskFailed):
            tasks.result(boom, timeout=60)
        info = tasks.get(boom)
        assert info["error"] == "ValueError: bad\ufffdnews \ufffd", info
        # the worker goes on: a later task runs on it
        assert tasks.result(tasks.add("tasks_app:echo", 2), timeout=60) == {"got": 2}
        item = c.work(nul, "task")
        replaced = ["result.value.text", "result.value.k\ufffd"]
        assert item["result"]["replaced_characters"] == replaced
        assert farm.check() == []  # the same worker process


def _limit_writes(pid: int, size: int) -> None:
    """No file of process ``pid`` grows past ``size`` bytes (a full disk, as the process sees
    it: a write past it fails with EFBIG; Python ignores SIGXFSZ)."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))


def _until_not_503(send: Callable[[], httpx.Response], tries: int = 100) -> httpx.Response:
    """The answer once it is not 503 (a store that cannot be read now: "try again later")."""
    for _ in range(tries):
        r = send()
        if r.status_code != 503:
            return r
        time.sleep(0.1)
    return r


def test_a_full_disk_answers_503_with_the_error_model(start_farm: StartFarm, tmp_path: Any) -> None:
    farm = start_farm(f"sqlite:///{tmp_path / 'tf.db'}", workers=0)
    assert farm.supervisor is not None
    pid = farm.supervisor.pid
    with _http(farm) as h:
        reg = h.post("/workers/register", json={"name": "probe", "slots": 1}).json()
        [submitted] = h.post("/jobs", json=[_job(package={"cmdline": "sleep 60"})]).json()["jobs"]
        pull = h.post("/workers/probe/pull", json={"session": reg["session"], "wait": 30})
        [a] = pull.json()["assignments"]
        chunk = {"session": reg["session"], "token": a["token"], "stream": "stdout"}
        assert h.post("/workers/probe/log", json={**chunk, "data": "before\n"}).json() == {
            "accepted": True
        }
        _limit_writes(pid, 1)
        try:
            answers = {
                "log": h.post("/workers/probe/log", json={**chunk, "data": "x" * 10_000}),
                "jobs": h.post("/jobs", json=[_job()]),
                "tasks": h.post("/tasks", json={"target": "m:f"}),
                "report": h.post("/workers/probe/report", json={
                    "session": reg["session"],
                    "reports": [{"token": a["token"], "status": "complete", "exit_code": 0}],
                }),
            }  # fmt: skip
            for route, r in answers.items():
                assert r.status_code == 503, (route, r.text)
                err = r.json()["error"]
                assert err["code"] == "store_unavailable", (route, err)
                assert "SQL" not in err["message"] and "INSERT" not in err["message"]
            for path in (f"/jobs/{submitted['id']}", "/jobs", "/hosts", "/tasks"):
                r = h.get(path)  # a read may go on, or not (SQLite may need to write to read)
                assert r.status_code == 200 or (r.status_code, r.json()["error"]["code"]) == (
                    503,
                    "store_unavailable",
                ), (path, r.text)
        finally:
            _limit_writes(pid, resource.RLIM_INFINITY)
        # room again: the supervisor goes on as before (once it has read the store again)
        assert _until_not_503(lambda: h.post("/jobs", json=[_job()])).status_code == 201
        done = h.post("/workers/probe/report", json={
            "session": reg["session"],
            "reports": [{"token": a["token"], "status": "complete", "exit_code": 0}],
        })  # fmt: skip
        assert done.status_code == 200, done.text
    with farm.client() as c:
        assert c.job(submitted["id"])["status"] == "complete"


@st.composite
def _bad_texts(draw: st.DrawFn) -> str:
    """Storable text with at least one NUL or lone surrogate somewhere in it."""
    good = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
    bad = draw(st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff"]))
    return draw(good) + bad + draw(good)


# (path, the body holding ``t`` somewhere, the field named)
WHERE: list[tuple[str, Callable[[str], Any], str]] = [
    ("/jobs", lambda t: [_job(name=t)], "jobs[0].name"),
    ("/jobs", lambda t: [_job(package={"cmdline": t})], "jobs[0].package.cmdline"),
    ("/jobs", lambda t: {"jobs": [_job(), _job(env={"V": t})]}, "jobs[1].env.V"),
    ("/jobs", lambda t: [_job(notes=t)], "jobs[0].notes"),
    ("/tasks", lambda t: {"target": "m:f", "params": [1, {"x": t}]}, "params[1].x"),
    ("/tasks/many", lambda t: {"tasks": [{"target": "m:f", "name": t}]}, "tasks[0].name"),
]  # fmt: skip


def test_any_bad_text_in_any_text_field_is_refused(start_farm: StartFarm, db_url: str) -> None:
    farm = start_farm(db_url, workers=0)
    with _http(farm) as h:

        @settings(max_examples=60, deadline=None, derandomize=True)
        @given(_bad_texts(), st.sampled_from(WHERE))
        def refused(text: str, where: tuple[str, Callable[[str], Any], str]) -> None:
            path, body, field = where
            r = h.post(path, content=json.dumps(body(text)).encode())  # (escaped: \\u0000)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["field"] == field

        refused()
        assert h.get("/jobs").json()["jobs"] == []  # none of them got in
        assert h.post("/jobs", json=[_job(name="\U0001f600 é")]).status_code == 201


def test_a_job_stored_with_a_lone_surrogate_before_runs_instead_of_failing_every_pull(
    start_farm: StartFarm, tmp_path: Any
) -> None:
    """A store written before such text was refused (SQLite kept it, escaped, in a job's
    package): the worker's pull that gets it is answered, the text replaced, not a 500 for
    ever."""
    url = f"sqlite:///{tmp_path / 'tf.db'}"
    store = Store(url)
    eng = Engine(store)
    eng.start()
    try:
        [nj] = parse_jobs([_job(package={"cmdline": "echo 'old \ud800 text'"})])
        eng.run_sync(sub.submit, [nj], "alice")
    finally:
        eng.stop()
        store.close()
    farm = start_farm(url, workers=1)
    store = Store(url)  # (read from the store: API answers of such a row are another matter)
    try:
        for _ in range(600):
            row = reads.get_job(store.engine, 1, agenda=False)
            if row is not None and row["status"] in ("complete", "failed"):
                break
            time.sleep(0.1)
        assert row is not None and row["status"] == "complete", row
    finally:
        store.close()
    with farm.client() as c:
        assert "old \ufffd text" in c.subjob_log(1, 0)
    assert farm.check() == []
