"""``GET /events`` answers from memory near the head of the log and from the store further
back; both give exactly what the store holds, with the same filters, before and after a
restart of the supervisor."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from farms import StartFarm

from triggerfish.cli.local import LocalFarm
from triggerfish.client import Client
from triggerfish.store import reads


def _store(farm: LocalFarm) -> sa.Engine:
    url = farm.db_url or f"sqlite:///{farm.data_dir / 'triggerfish.db'}"
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _same(c: Client, db: sa.Engine, **kw: Any) -> int:
    """The API's answer equals the store's, for events after every point of the log."""
    truth = reads.list_events(db, limit=100_000)
    compared = 0
    for after in range(0, len(truth) + 1, 7):
        got = c.events(since=after, limit=25, job=kw.get("job"), type=kw.get("type"))
        types = kw["type"].split(",") if kw.get("type") else None
        want = reads.list_events(db, after=after, limit=25, job=kw.get("job"), types=types)
        assert [(e["seq"], e["name"], e["type"], e["job"], e["work"], e["host"]) for e in got] == [
            (e["seq"], e["name"], e["type"], e["job"], e["work"], e["host"]) for e in want
        ], after
        assert [e["data"] or {} for e in got] == [e["data"] or {} for e in want]
        compared += len(want)
    return compared


@pytest.mark.slow  # 6-8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_events_from_memory_and_from_the_store_are_the_store_s(
    start_farm: StartFarm, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    db = _store(farm)
    try:
        with farm.client() as c:
            a, b = c.submit(
                [
                    {"name": "a", "package": {"cmdline": "exit $((QB_FRAME_NUMBER % 3 == 0))",
                                              "range": "1-9"}},
                    {"name": "b", "package": {"cmdline": "true", "range": "1-4"}},
                ]
            )  # fmt: skip
            c.wait([a["id"], b["id"]], timeout=60)
            for kw in ({}, {"job": a["id"]}, {"type": "work"}, {"type": "job,host"}):
                assert _same(c, db, **kw) > 0
        farm.restart_supervisor()  # memory starts empty: older events come from the store
        with farm.client() as c:
            head = c.event_head()
            [d] = c.submit([{"name": "d", "package": {"cmdline": "true", "range": "1-3"}}])
            c.wait([d["id"]], timeout=60)
            assert c.events(since=head)[0]["seq"] == head + 1
            for kw in ({}, {"job": d["id"]}, {"type": "work"}):
                assert _same(c, db, **kw) > 0
    finally:
        db.dispose()


def test_events_read_backwards_from_before(start_farm: StartFarm, db_url: str) -> None:
    """``before`` gives the newest events below a seq (filters kept), oldest first; with
    ``wait`` it is refused, naming the field."""
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c:
        a, b = c.submit(
            [{"name": "a", "package": {"cmdline": "true", "range": "1-5"}},
             {"name": "b", "package": {"cmdline": "true", "range": "1-3"}}]
        )  # fmt: skip
        c.wait([a["id"], b["id"]], timeout=60)
        every = c.events(limit=10_000)
        head = every[-1]["seq"]
        for kw in ({}, {"job": a["id"]}, {"type": "job"}):
            want = [e for e in every if kw.get("job") in (None, e["job"])
                    and kw.get("type") in (None, e["type"])]  # fmt: skip
            assert [e["seq"] for e in c.events(before=head + 1, limit=4, **kw)] == [
                e["seq"] for e in want[-4:]
            ]
        middle = every[len(every) // 2]["seq"]
        got = c.events(since=2, before=middle, limit=10_000)
        assert [e["seq"] for e in got] == [e["seq"] for e in every if 2 < e["seq"] < middle]
        assert c.events(before=1) == []
        r = c._http.get("/api/v1/events", params={"before": head, "wait": 1})
        assert r.status_code == 422 and "wait" in r.text
