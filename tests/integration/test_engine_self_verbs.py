"""The dispatch verbs as qube callback actions, in the engine (hosts driven by hand):
``suspend-self``, ``resume-self``, ``interrupt-self``, ``migrate-self``, ``preempt-self`` and
their ``-subjob-self`` forms; a state a verb does not apply to is a note, not an error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers_engine import Farm, job

from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def _with_switches(frames: str, **cbs: str) -> list[dict[str, Any]]:
    """A job with callbacks fired by the kill of a blocked job of its pgrp: ``cbs`` maps each
    switch's label to the callback's code. The job is the first one submitted (id 1); the
    switches follow in the order given (ids 2, 3 …)."""
    callbacks = [{"triggers": f"killed-job-{label}", "code": code} for label, code in cbs.items()]
    switches = [job("1", label=label, status="blocked") for label in cbs]
    return [job(frames, label="main", cpus=1, callbacks=callbacks), *switches]


def _outputs(farm: Farm) -> list[str]:
    return [r["output"] for r in sorted(reads.list_runs(farm.db, job=1), key=lambda r: r["id"])]


def _token(farm: Farm, host: str, name: str) -> str:
    for token, a in farm.held[host].items():
        if (a.job, a.work) == (1, name):
            return token
    raise AssertionError(f"1:{name} is not held by {host}")


def test_suspend_self_then_resume_self(farm: Farm) -> None:
    farm.submit(*_with_switches("1-2", stop="suspend-self", go="resume-self"))
    farm.register("h1", slots=1)
    farm.pull("h1")
    token = _token(farm, "h1", "1")
    farm.control("kill", 2)
    assert farm.status(1) == "suspended" and farm.work_statuses(1)["1"] == "suspended"
    assert farm.pull("h1").suspend == [token]
    farm.control("kill", 3)
    assert farm.status(1) == "running" and farm.work_statuses(1)["1"] == "running"
    assert farm.pull("h1").resume == [token]
    assert _outputs(farm) == ["suspend 1: suspended", "resume 1: running"]
    assert "suspend" in farm.names(1) and "resume" in farm.names(1)


def test_a_verb_the_state_forbids_is_a_note(farm: Farm) -> None:
    farm.submit(*_with_switches("1", early="preempt-self interrupt-self", go="resume-self"))
    farm.control("kill", 2)  # nothing runs yet (no host)
    farm.register("h1", slots=1)
    farm.pull("h1")
    farm.control("kill", 3)  # running, not suspended
    runs = sorted(reads.list_runs(farm.db, job=1), key=lambda r: r["id"])
    assert [r["status"] for r in runs] == ["complete", "complete"]
    assert runs[0]["output"].splitlines() == [
        "skipped: preempt 1: it is pending; nothing of it is running",
        "skipped: interrupt 1: it is pending; nothing of it is running",
    ]
    assert runs[1]["output"] == "skipped: resume 1: it is running, not suspended"
    assert farm.work_statuses(1) == {"1": "running"}
    farm.run_all("h1")
    assert farm.status(1) == "complete"


def test_interrupt_self_sends_running_work_back_without_a_failure(farm: Farm) -> None:
    farm.submit(*_with_switches("1", stop="interrupt-self"))
    farm.register("h1", slots=1)
    farm.pull("h1")
    old = _token(farm, "h1", "1")
    farm.control("kill", 2)
    assert farm.work(1, "1")["status"] == "pending" and farm.work(1, "1")["retry"] == 0
    resp = farm.pull("h1")
    assert old in resp.cancel
    assert [a.work for a in resp.assignments] == ["1"]  # it runs again
    names = farm.names(1, type_="work")
    assert "interrupt" in names and "failed" not in names and "retry" not in names


def test_migrate_self_forbids_the_host_for_the_next_attempt(farm: Farm) -> None:
    farm.submit(*_with_switches("1", stop="migrate-self"))
    farm.register("h1", slots=1)
    farm.pull("h1")
    farm.register("h2", slots=1)
    farm.control("kill", 2)
    assert farm.work(1, "1")["status"] == "pending"
    assert farm.pull("h1").assignments == []
    assert [a.work for a in farm.pull("h2").assignments] == ["1"]
    assert farm.work(1, "1")["host"] == "h2" and farm.work(1, "1")["retry"] == 0
    assert "migrate" in farm.names(1, type_="work")


def test_preempt_self_lets_the_item_finish_then_gives_the_slot_up(farm: Farm) -> None:
    farm.submit(*_with_switches("1-3", stop="preempt-self"))
    farm.register("h1", slots=1)
    farm.pull("h1")
    token = _token(farm, "h1", "1")
    farm.control("kill", 2)
    assert _outputs(farm) == [
        "preempt 1: 1 instance(s) give their slots up after their current items"
    ]
    assert farm.work_statuses(1)["1"] == "running"  # not interrupted
    seq = farm.last_seq()
    farm.report("h1", token)
    evs = [(e["type"], e["name"], e["subid"], e["work"]) for e in farm.events(1, after=seq)]
    assert evs.index(("work", "complete", 0, "1")) < evs.index(("subjob", "preempt", 0, None))
    [ev] = [e for e in farm.events(1, after=seq) if e["name"] == "preempt"]
    assert ev["data"] == {"mode": "callback"}
    assert farm.work(1, "1")["retry"] == 0
    # the job is dispatched again by its priority: nothing else waits, so it goes on
    farm.run_all("h1")
    assert farm.status(1) == "complete"
    assert farm.names(1).count("preempt") == 1  # once: the next items were not preempted


def test_preempt_self_of_a_job_without_agenda_takes_it_back_at_once(farm: Farm) -> None:
    farm.submit(job(None, label="main", callbacks=[{"triggers": "killed-job-stop",
                                                    "code": "preempt-self"}]),
                job("1", label="stop", status="blocked"))  # fmt: skip
    farm.register("h1", slots=1)
    farm.pull("h1")
    farm.control("kill", 2)
    assert _outputs(farm) == ["preempt 1: 1 instance(s) back to pending"]
    sub = reads.get_job(farm.db, 1)
    assert sub is not None and sub["status"] in ("pending", "running")
    assert "preempt" in farm.names(1, type_="subjob")


def test_suspend_subjob_self_acts_on_the_firing_instance(farm: Farm) -> None:
    cb = {"triggers": "complete-work-self-1", "code": "suspend-subjob-self"}
    farm.submit(job("1-3", cpus=2, callbacks=[cb]))
    farm.register("h1", slots=2)
    farm.pull("h1")
    first = _token(farm, "h1", "1")
    sub_of_1 = farm.work(1, "1")["subid"]
    farm.report("h1", first)  # its instance goes on with item 3, and is suspended
    statuses = farm.work_statuses(1)
    assert statuses["1"] == "complete" and statuses["3"] == "suspended"
    assert statuses["2"] == "running" and farm.status(1) == "running"
    assert farm.work(1, "3")["subid"] == sub_of_1
    assert _outputs(farm) == [f"suspend 1.{sub_of_1}: suspended"]


def test_preempt_subjob_self_yields_that_instance_once_after_its_item(farm: Farm) -> None:
    cb = {"triggers": "complete-work-self-1", "code": "preempt-subjob-self"}
    farm.submit(job("1-4", cpus=2, callbacks=[cb]))
    farm.register("h1", slots=2)
    farm.pull("h1")
    farm.report("h1", _token(farm, "h1", "1"))  # its instance goes on with item 3, flagged
    sub = farm.work(1, "3")["subid"]
    assert farm.work(1, "1")["subid"] == sub
    assert _outputs(farm) == [
        f"preempt 1.{sub}: 1 instance(s) give their slots up after their current items"
    ]
    farm.report("h1", _token(farm, "h1", "2"))  # the other instance goes on: not flagged
    assert "preempt" not in farm.names(1)
    assert farm.work_statuses(1)["4"] == "running"
    farm.report("h1", _token(farm, "h1", "3"))
    [ev] = [e for e in farm.events(1) if e["name"] == "preempt"]
    assert (ev["type"], ev["subid"], ev["data"]) == ("subjob", sub, {"mode": "callback"})
    farm.run_all("h1")
    assert farm.status(1) == "complete" and farm.names(1).count("preempt") == 1


def test_preempt_self_is_forgotten_by_an_instance_interrupted_meanwhile(farm: Farm) -> None:
    farm.submit(*_with_switches("1-3", soft="preempt-self", cut="interrupt-self"))
    farm.register("h1", slots=1)
    farm.pull("h1")
    farm.control("kill", 2)  # item 1 to finish first, then the slot is given up …
    farm.control("kill", 3)  # … but it is interrupted: it runs again from its start
    farm.run_all("h1")
    assert farm.status(1) == "complete"
    assert "preempt" not in farm.names(1)
