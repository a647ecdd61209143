"""The supervisor's log lines about work name the job, item, instance, host and attempt."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job

from triggerfish import logfmt


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def test_a_lost_attempt_is_logged_with_its_job_item_host_and_attempt(
    farm: Farm, caplog: pytest.LogCaptureFixture
) -> None:
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    assert farm.pull("h1", running=[a.token]).assignments == []  # confirmed
    with caplog.at_level(logging.INFO, logger="triggerfish.engine.workers"):
        farm.pull("h1", running=[])  # the worker no longer runs it: lost
    [rec] = [r for r in caplog.records if getattr(r, "action", None) == "attempt.lost"]
    fields = logfmt.fields(rec)
    assert {k: fields.get(k) for k in ("job", "item", "instance", "host", "attempt")} == {
        "job": 1, "item": a.work, "instance": a.subid, "host": "h1", "attempt": a.token,
    }  # fmt: skip
    line = logfmt.KeyValueFormatter().format(rec)
    assert f"job=1 item={a.work} instance={a.subid} host=h1 attempt={a.token}" in line
