"""``Engine.acall_here``: commands applied on the calling asyncio loop's thread (SQLite), the
real engine and store, no HTTP.

The commands that arrive in one turn of the loop share one commit; while the engine thread is
at work they go to it instead; on PostgreSQL they always do. Either way every caller gets the
answer of its own command, only after the commit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers_engine import Farm, job

from triggerfish.engine import loop
from triggerfish.engine import submit as sub
from triggerfish.engine.loop import Engine
from triggerfish.errors import StoreError
from triggerfish.model.jobspec import parse_jobs
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def engine(farm: Farm) -> Engine:
    assert farm.eng is not None
    return farm.eng


async def add(eng: Engine, name: str) -> Any:
    return await eng.acall_here(sub.submit, parse_jobs([job("1", name=name)]), "alice")


def test_commands_of_one_loop_turn_share_one_commit(farm: Farm) -> None:
    eng = engine(farm)
    before = eng.commits

    async def three() -> list[Any]:
        return list(await asyncio.gather(add(eng, "a"), add(eng, "b"), add(eng, "c")))

    answers = asyncio.run(three())
    assert [a.jobs[0].id for a in answers] == [1, 2, 3]  # each its own answer, in order
    assert [farm.job(i)["name"] for i in (1, 2, 3)] == ["a", "b", "c"]  # committed
    if eng.inline:
        assert eng.commits == before + 1
    else:  # PostgreSQL: the engine thread's group commit
        assert eng.commits >= before + 1


def test_while_the_engine_thread_works_commands_go_to_it(farm: Farm) -> None:
    eng = engine(farm)
    release = threading.Event()
    holding = threading.Event()

    def busy(_state: object) -> None:  # a slow command on the engine thread
        holding.set()
        release.wait(10)

    slow = eng.call(busy)
    assert holding.wait(10)

    async def while_busy() -> Any:
        task = asyncio.ensure_future(add(eng, "queued"))
        await asyncio.sleep(0.1)
        assert not task.done()  # it waits for the engine thread: nothing ran on this loop
        release.set()
        return await task

    answer = asyncio.run(while_busy())
    slow.result(10)
    assert farm.job(answer.jobs[0].id)["name"] == "queued"


def test_a_refused_command_fails_alone(farm: Farm) -> None:
    eng = engine(farm)

    def refuse(_state: object) -> None:
        from triggerfish.errors import ValidationError

        raise ValidationError("no", field="x")

    async def both() -> tuple[Any, BaseException | None]:
        good = asyncio.ensure_future(add(eng, "kept"))
        try:
            await eng.acall_here(refuse)
        except Exception as exc:
            return await good, exc
        return await good, None

    answer, err = asyncio.run(both())
    assert err is not None and "no" in str(err)
    assert farm.job(answer.jobs[0].id)["name"] == "kept"


def test_a_command_caught_by_the_shutdown_is_refused_not_lost(farm: Farm) -> None:
    eng = engine(farm)
    inline = eng.inline

    async def during_stop() -> BaseException | None:
        task = asyncio.ensure_future(add(eng, "late"))
        await asyncio.sleep(0)  # queued: on SQLite for the end of this turn of the loop
        eng.stop()  # the engine thread ends before the loop runs the batch
        try:
            await asyncio.wait_for(task, 10)
        except StoreError as exc:
            return exc
        return None

    err = asyncio.run(during_stop())
    farm.eng = None  # stopped already
    assert farm.store is not None
    stored = reads.list_jobs(farm.store.engine)
    if inline:  # the loop's batch came after the stop: refused
        assert err is not None and "shutting down" in str(err)
    # (PostgreSQL: the engine thread took it before it stopped, or refused it)
    # the answer tells the truth: refused and not stored, or stored
    assert (err is None) == (len(stored) == 1), (err, stored)


def test_begin_here_calls_back_after_the_commit_and_on_refusal(farm: Farm) -> None:
    """The entry without a task or a future: a function called on the loop."""
    eng = engine(farm)
    jobs = parse_jobs([job("1", name="called-back")])

    async def go() -> list[tuple[Any, BaseException | None, list[dict[str, Any]]]]:
        got: list[tuple[Any, BaseException | None, list[dict[str, Any]]]] = []
        done = asyncio.Event()

        def then(value: Any, exc: BaseException | None) -> None:
            assert farm.store is not None  # committed before the answer: visible to a reader
            got.append((value, exc, reads.list_jobs(farm.store.engine)))
            done.set()

        eng.begin_here(sub.submit, (jobs, "alice"), then)
        await asyncio.wait_for(done.wait(), 10)
        eng.stop()  # now a command is refused, through the same function
        done.clear()
        eng.begin_here(sub.submit, (parse_jobs([job("1", name="late")]), "alice"), then)
        await asyncio.wait_for(done.wait(), 10)
        return got

    first, second = asyncio.run(go())
    farm.eng = None
    value, exc, stored = first
    assert exc is None and [j["name"] for j in stored] == ["called-back"]
    assert value.jobs[0].id == stored[0]["id"]
    value, exc, stored = second
    assert value is None and isinstance(exc, StoreError) and "shutting down" in str(exc)
    assert [j["name"] for j in stored] == ["called-back"]  # the refused one stored nothing


def test_a_timer_set_on_the_loop_thread_wakes_the_sleeping_engine_thread(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine thread sleeps until its next timer or host check; a command applied on the
    loop's thread that sets an earlier timer must wake it, or the timer fires only at the
    next check. That check is put an hour away here, so a missed wake-up cannot pass."""
    monkeypatch.setattr(loop, "HOST_CHECK_EVERY", 3600.0)
    farm = Farm(db_url)
    try:
        eng = engine(farm)
        time.sleep(0.2)  # the engine thread is asleep, until the host check an hour away

        async def add_held() -> Any:
            jobs = parse_jobs([job("1", name="held", after="+0.5s")])
            return await eng.acall_here(sub.submit, jobs, "alice")

        answer = asyncio.run(add_held())
        job_id = answer.jobs[0].id
        assert farm.status(job_id) == "blocked"
        deadline = time.monotonic() + 30  # the timer is due in 0.5 s; the host check in 1 h
        while farm.status(job_id) != "pending":
            assert time.monotonic() < deadline, "the held job was not released"
            time.sleep(0.05)
        [ev] = [e for e in farm.events(job_id) if e["type"] == "time"]
        assert ev["time"] >= ev["data"]["due"]  # never early
    finally:
        farm.stop()
