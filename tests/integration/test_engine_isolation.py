"""One command whose values the store refuses fails alone: the others of its group commit are
committed (both stores, the real engine thread)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from helpers_engine import Farm, job

from triggerfish.engine import submit as sub
from triggerfish.engine.loop import Engine
from triggerfish.errors import StoreRefused
from triggerfish.model.jobspec import parse_jobs
from triggerfish.store import reads

pytestmark = pytest.mark.pg


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def held(eng: Engine, queue: Callable[[], list[Future[Any]]]) -> list[Future[Any]]:
    """Queue the commands ``queue`` makes while the engine thread is held inside a command of
    its own: they are taken together, as one batch and one commit."""
    entered, go = threading.Event(), threading.Event()

    def hold(_st: Any) -> None:
        entered.set()
        go.wait(30)

    first = eng.call(hold)
    assert entered.wait(30)
    futures = queue()
    go.set()
    first.result(30)
    return futures


def _unstorable() -> Any:
    """A job that passed validation but that no store can write (pid beyond any integer
    column), as a stand-in for any value the store refuses."""
    [nj] = parse_jobs([job("1", name="bad")])
    nj.spec.pid = 2**70
    return [nj]


def test_a_refused_command_fails_alone_and_its_batch_is_committed(
    farm: Farm, caplog: pytest.LogCaptureFixture
) -> None:
    assert farm.eng is not None
    eng = farm.eng

    def queue() -> list[Future[Any]]:
        out = [eng.call(sub.submit, parse_jobs([job("1", name=f"good {i}")]), "alice")
               for i in range(7)]  # fmt: skip
        out.insert(4, eng.call(sub.submit, _unstorable(), "alice"))
        return out

    with caplog.at_level(logging.WARNING, logger="triggerfish.engine.loop"):
        futures = held(eng, queue)
        bad = futures.pop(4)
        with pytest.raises(StoreRefused) as refused:
            bad.result(30)
        good = [f.result(30).jobs[0] for f in futures]
    assert "committed in parts" in caplog.text  # they were one batch, split
    assert refused.value.http_status == 422 and "SQL" not in refused.value.message
    stored = {j["id"]: j["name"] for j in reads.list_jobs(farm.db)}
    assert stored == {j.id: j.name for j in good}
    assert sorted(stored.values()) == [f"good {i}" for i in range(7)]
    seqs = [e["seq"] for e in reads.list_events(farm.db, after=0, limit=10_000)]
    assert seqs == list(range(1, len(seqs) + 1))  # no event of the refused one, no gap
    farm.register("h1", 1)
    assert farm.run_all("h1") == 7
