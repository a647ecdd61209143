"""Flight checks: the fields (model.flights, jobspec), the order of the programs
(worker.flights) and the runner running them with real /bin/sh processes; the worker's own
health check (worker.check)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from triggerfish.api.schemas import Assignment, Flights, Report
from triggerfish.errors import ValidationError
from triggerfish.model.flights import MAX_PROGRAMS, of_job, programs, timeout_of
from triggerfish.model.jobspec import parse_jobs
from triggerfish.worker.check import HealthCheck
from triggerfish.worker.flights import Instances, steps
from triggerfish.worker.runner import Runner

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flights run POSIX commands")


def assignment(cmd: str, flights: Flights | None = None, **kw: Any) -> Assignment:
    fields: dict[str, Any] = {
        "token": "tok-1", "job": 12, "subid": 0, "work": "1", "pgrp": 12, "name": "test",
        "prototype": "cmdrange", "package": {"cmdline": cmd}, "flights": flights,
        "frame_start": 1, "frame_end": 1, "frame_step": 1,
    }  # fmt: skip
    fields.update(kw)
    return Assignment(**fields)


def run(runner: Runner, *assignments: Assignment) -> list[Report]:
    async def go() -> list[Report]:
        return [await runner.run(a) for a in assignments]

    return asyncio.run(go())


# ---------------------------------------------------------------- fields


def test_flight_fields_are_comma_separated_programs() -> None:
    assert programs(" a -x, ,b ,") == ["a -x", "b"]
    [nj] = parse_jobs([{"package": {"cmdline": "x"}, "preflights": "a, b", "postflights": " , "}])
    assert nj.spec.preflights == "a, b"
    assert nj.spec.postflights == ""  # names no program: none
    assert of_job(nj.spec.model_dump()) == {"preflights": "a, b"}


def test_flight_fields_are_checked() -> None:
    for bad in (7, "x" * 10_001, ",".join(["true"] * (MAX_PROGRAMS + 1))):
        with pytest.raises(ValidationError) as exc:
            parse_jobs([{"package": {"cmdline": "x"}, "agenda_preflights": bad}])
        assert "agenda_preflights" in exc.value.message


def test_flight_timeout_is_the_jobs_or_five_minutes() -> None:
    assert timeout_of({}) == 300.0
    assert timeout_of({"timeout": 20.0}) == 20.0
    assert timeout_of({"timeout": 20.0, "agenda_timeout": 5}) == 5.0


# ---------------------------------------------------------------- order


def test_steps_in_order() -> None:
    f = Flights(preflights="p1,p2", postflights="q", agenda_preflights="ap",
                agenda_postflights="aq")  # fmt: skip
    item = assignment("cmd", f)
    kinds = [(s.kind, s.program) for s in steps(item, f, first=True)]
    assert kinds == [("preflight", "p1"), ("preflight", "p2"), ("agenda_preflight", "ap"),
                     ("command", ""), ("agenda_postflight", "aq")]  # fmt: skip
    assert next(s.kind for s in steps(item, f, first=False)) == "agenda_preflight"
    post = assignment("cmd", f, flight="postflight")
    assert [(s.kind, s.program) for s in steps(post, f, first=False)] == [("postflight", "q")]
    whole = assignment("cmd", f, work=None, prototype="cmdline")
    assert [s.kind for s in steps(whole, f, first=True)] == [
        "preflight", "preflight", "command", "postflight"]  # fmt: skip


def test_instances_remember_preflights_until_postflights() -> None:
    seen = Instances(size=2)
    a = assignment("x")
    assert seen.first(a)
    seen.took_off(a)
    assert not seen.first(a)
    seen.landed(a)
    assert seen.first(a)
    for job in (1, 2, 3):
        seen.took_off(assignment("x", job=job))
    assert seen.first(assignment("x", job=1))  # the oldest forgotten


# ---------------------------------------------------------------- the runner


def test_the_runner_runs_flights_around_the_command(tmp_path: Path) -> None:
    log = tmp_path / "log"
    f = Flights(preflights=f"echo pre $TRIGGERFISH_FLIGHT $TRIGGERFISH_HOST >> {log}",
                agenda_preflights=f"echo apre $QB_FRAME_NUMBER >> {log}",
                agenda_postflights=f"echo apost >> {log}; echo out; echo err >&2")  # fmt: skip
    runner = Runner(host="h1")
    reports = run(runner, assignment(f"echo cmd >> {log}", f),
                  assignment(f"echo cmd2 >> {log}", f, token="tok-2", work="2"))  # fmt: skip
    assert [r.status for r in reports] == ["complete", "complete"]
    assert log.read_text().splitlines() == [
        "pre preflight h1", "apre 1", "cmd", "apost", "apre 1", "cmd2", "apost"]  # fmt: skip


def test_a_failing_preflight_refuses_the_work_and_the_command_never_runs(tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    f = Flights(preflights="true, echo no gpu; exit 3")
    [r] = run(Runner(), assignment(f"touch {mark}", f))
    assert r.status == "failed" and r.preflight is not None
    assert r.preflight.program == "echo no gpu; exit 3"
    assert r.preflight.exit_code == 3
    assert "exited with 3" in (r.error or "")
    assert not mark.exists()


def test_a_preflight_that_runs_too_long_is_killed_and_refuses() -> None:
    f = Flights(agenda_preflights="sleep 30", timeout=0.3)
    began = time.monotonic()
    [r] = run(Runner(grace=0.5), assignment("true", f))
    assert time.monotonic() - began < 5
    assert r.preflight is not None and "timed out after 0.3 s" in r.preflight.error


def test_a_failing_postflight_fails_the_attempt() -> None:
    f = Flights(agenda_postflights="exit 2", postflights="exit 5")
    [item, post] = run(Runner(), assignment("true", f),
                       assignment("true", f, token="tok-2", flight="postflight"))  # fmt: skip
    assert item.status == "failed" and item.preflight is None
    assert "agenda_postflight 'exit 2'" in (item.error or "")
    assert post.status == "failed" and post.exit_code == 5
    assert "postflight 'exit 5'" in (post.error or "")


def test_a_failed_command_skips_its_agenda_postflights(tmp_path: Path) -> None:
    mark = tmp_path / "post"
    [r] = run(Runner(), assignment("exit 4", Flights(agenda_postflights=f"touch {mark}")))
    assert r.status == "failed" and r.exit_code == 4
    assert not mark.exists()


def test_a_cancel_between_flights_stops_the_sequence(tmp_path: Path) -> None:
    mark = tmp_path / "cmd"
    f = Flights(preflights="sleep 5")

    async def go() -> Report:
        runner = Runner(grace=0.5)
        task = asyncio.create_task(runner.run(assignment(f"touch {mark}", f)))
        await asyncio.sleep(0.3)
        assert runner.cancel("tok-1")
        return await task

    r = asyncio.run(go())
    assert r.status == "failed" and r.preflight is None  # a cancel, not a refusal
    assert not mark.exists()


# ---------------------------------------------------------------- the worker's check


def test_the_health_check_says_why_it_fails_and_when_it_passes(tmp_path: Path) -> None:
    sick = tmp_path / "sick"
    changes: list[str] = []
    check = HealthCheck(f"test ! -e {sick} || {{ echo disk; echo full; exit 2; }}", 60.0,
                        lambda: changes.append(check.state))  # fmt: skip

    async def go() -> list[str]:
        first = await check.run_once()
        sick.touch()
        second = await check.run_once()
        third = await check.run_once()
        sick.unlink()
        return [first, second, third, await check.run_once()]

    states = asyncio.run(go())
    assert states[0] == "" and states[3] == ""
    assert states[1] == states[2] and "exited with 2: full" in states[1]
    assert changes == [states[1], ""]  # once per change


def test_a_health_check_that_hangs_fails() -> None:
    check = HealthCheck("sleep 30", 0.1)
    check.timeout = 0.3
    began = time.monotonic()
    state = asyncio.run(check.run_once())
    assert "timed out" in state and time.monotonic() - began < 5
