"""Flight checks and host checks in the real engine and store, with fake workers
(engine.flights, engine.hostcheck): a refused preflight is not a failed attempt and grounds
the host for the job; the instance's postflights get an attempt of their own on its last
item's slot; a failing check keeps the host out of dispatch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job

from triggerfish.api import schemas as s
from triggerfish.engine import flights
from triggerfish.engine import workers as wk


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def refusal(program: str = "check-gpu", exit_code: int = 3) -> s.PreflightFailure:
    return s.PreflightFailure(program=program, exit_code=exit_code, error="no gpu")


def test_a_refused_preflight_is_not_counted_and_grounds_the_host(farm: Farm) -> None:
    farm.submit(job("1-2", preflights="check-gpu"))
    farm.register("h1")
    [a] = farm.pull("h1").assignments
    assert a.flights is not None and a.flights.preflights == "check-gpu"
    farm.report("h1", a.token, "failed", exit_code=3, preflight=refusal())
    assert farm.work(1, "1")["status"] == "pending" and farm.work(1, "1")["retry"] == 0
    assert farm.pull("h1").assignments == []  # the job avoids h1 now
    reason = farm.run(flights.reasons, [1])[1]
    assert (
        reason == "preflight failed on every host that can run it (h1: 'check-gpu' exited with 3)"
    )
    [ev] = [e for e in farm.events(job=1) if e["name"] == "preflight"]
    assert (ev["type"], ev["host"], ev["work"]) == ("job", "h1", "1")
    assert ev["data"] == {"program": "check-gpu", "exit_code": 3, "error": "no gpu"}
    farm.register("h2")
    assert farm.run(flights.reasons, [1]) == {}
    assert farm.run_all("h2") == 2
    assert farm.status(1) == "complete"


@pytest.mark.parametrize("ok", [True, False])
def test_postflights_run_on_the_last_items_slot_before_it_completes(farm: Farm, ok: bool) -> None:
    farm.submit(job("1-2", postflights="cleanup"))
    farm.register("h1")
    [one] = farm.pull("h1").assignments
    [two] = farm.report("h1", one.token).assignments
    assert (two.work, two.flight) == ("2", None)  # not the last: it goes on
    [post] = farm.report("h1", two.token).assignments
    assert (post.work, post.flight) == ("2", "postflight")
    assert farm.work(1, "2")["status"] == "running" and farm.status(1) == "running"
    if ok:
        assert farm.report("h1", post.token).assignments == []
        assert farm.work(1, "2")["status"] == "complete" and farm.status(1) == "complete"
    else:
        farm.report("h1", post.token, "failed", exit_code=5, error="postflight 'cleanup': 5")
        assert farm.work(1, "2")["status"] == "failed" and farm.status(1) == "failed"
        assert [e["host"] for e in farm.events(job=1) if e["name"] == "postflight"] == ["h1"]


def test_a_failing_check_keeps_the_host_out_of_dispatch(farm: Farm) -> None:
    farm.register("h1", check="check 'df' exited with 1: disk full")
    farm.submit(job("1-2"))
    assert farm.pull("h1").assignments == []
    assert farm.run(lambda st: st.hosts["h1"].check) == "check 'df' exited with 1: disk full"
    req = s.ReportRequest(session=farm.sessions["h1"], check="")  # it passes again
    assert len(farm.run(wk.report, "h1", req).assignments) == 1  # work comes with the answer
    checks = [e["data"]["failing"] for e in farm.events() if e["name"] == "check"]
    assert checks == [True, False]
