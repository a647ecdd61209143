"""The store under the engine: group commits are all-or-nothing, reads filter what is stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from helpers_engine import Farm, job

from triggerfish.errors import StoreError
from triggerfish.store import reads
from triggerfish.store.changes import Changes
from triggerfish.store.store import COPY_FROM, JOB_HOT, WHOLE_KINDS, Store, _only_hot


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    st = Store(db_url)
    yield st
    st.close()


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def job_row(job_id: int, label: str, pgrp: int = 1, status: str = "pending") -> dict[str, Any]:
    return {
        "id": job_id, "pgrp": pgrp, "pid": None, "label": label, "name": "n", "user": "u",
        "priority": 9999, "status": status, "prototype": "cmdrange", "cpus": 1, "step": 1,
        "reason": "", "todo": 1, "todotally": {"pending": 1}, "package": {"cmdline": "x"},
        "fields": {}, "timesubmit": 1.0, "timestart": None, "timecomplete": None,
        "lastupdate": 1.0,
    }  # fmt: skip


def work_row(job_id: int, name: str, seq: int) -> dict[str, Any]:
    return {
        "job_id": job_id, "name": name, "seq": seq, "status": "pending", "subid": None,
        "host": None, "token": None, "retry": 0, "exit_code": None, "result": None,
        "retry_at": None, "timestart": None, "timecomplete": None, "package": None,
    }  # fmt: skip


def event_row(seq: int, job: int | None = None) -> dict[str, Any]:
    return {
        "seq": seq,
        "time": 1.0,
        "name": "submit",
        "type": "job",
        "job": job,
        "subid": None,
        "work": None,
        "host": None,
        "data": {"k": [1, "two"]},
    }


def test_empty_store_counters(store: Store) -> None:
    assert store.counters() == {
        "event_seq": 0,
        "job_id": 0,
        "callback_id": 0,
        "run_id": 0,
        "schedule_id": 0,
    }
    assert store.active_job_ids() == []
    assert store.load_job(1) is None
    assert store.pgrp_labels(1) is None


def test_flush_writes_one_group_commit(store: Store) -> None:
    ch = Changes(
        counters={"job_id": 2, "event_seq": 2},
        job_inserts=[job_row(1, "a"), job_row(2, "b", status="complete")],
        work_inserts=[work_row(1, "10", 1), work_row(1, "2", 0)],
        events=[event_row(1, 1), event_row(2, 2)],
    )
    store.flush(ch)
    assert store.counters() == {
        "job_id": 2,
        "event_seq": 2,
        "callback_id": 0,
        "run_id": 0,
        "schedule_id": 0,
    }
    assert store.active_job_ids() == [1]
    assert store.pgrp_labels(1) == {"a", "b"}
    loaded = store.load_job(1)
    assert loaded is not None
    row, subs, items = loaded
    assert row["todotally"] == {"pending": 1} and row["package"] == {"cmdline": "x"}
    assert subs == []
    assert [w["name"] for w in items] == ["2", "10"]  # agenda order, not name order
    assert reads.list_events(store.engine)[0]["data"] == {"k": [1, "two"]}


def test_flush_is_all_or_nothing(store: Store) -> None:
    store.flush(Changes(counters={"job_id": 1}, job_inserts=[job_row(1, "a")]))
    bad = Changes(
        counters={"job_id": 3, "event_seq": 1},
        job_inserts=[job_row(2, "b"), job_row(3, "a")],  # 'a' is taken in pgrp 1
        work_inserts=[work_row(2, "1", 0)],
        events=[event_row(1, 2)],
    )
    with pytest.raises(StoreError):
        store.flush(bad)
    assert store.counters() == {
        "job_id": 1,
        "event_seq": 0,
        "callback_id": 0,
        "run_id": 0,
        "schedule_id": 0,
    }
    assert [j["id"] for j in reads.list_jobs(store.engine)] == [1]
    assert reads.get_work(store.engine, 2, "1") is None
    assert reads.list_events(store.engine) == []


def test_one_commit_inserts_and_updates_a_table_and_the_next_commit_follows_a_failed_one(
    store: Store,
) -> None:
    """What a task's add and a worker's report write (on PostgreSQL: one statement in
    autocommit mode): new rows and updates of other rows of the same tables, together."""
    store.flush(Changes(counters={"job_id": 1}, job_inserts=[job_row(1, "a")],
                        work_inserts=[work_row(1, "1", 0)]))  # fmt: skip
    hot = {**{k: job_row(1, "a")[k] for k in JOB_HOT}, "id": 1, "status": "running"}
    item = {**work_row(1, "1", 0), "status": "running", "host": "h1", "token": "t1"}
    sub = {"job_id": 2, "subid": 0, "status": "pending", "host": None, "token": None,
           "retry": 0, "work": None, "exit_code": None, "retry_at": None, "timestart": None,
           "timecomplete": None}  # fmt: skip
    store.flush(Changes(
        counters={"job_id": 2, "event_seq": 2},
        job_inserts=[job_row(2, "b")], job_updates=[hot],
        sub_inserts=[sub], work_inserts=[work_row(2, "1", 0)], work_updates=[item],
        events=[event_row(1, 1), event_row(2, 2)],
    ))  # fmt: skip
    assert store.counters()["job_id"] == 2 and store.counters()["event_seq"] == 2
    assert [(j["id"], j["status"]) for j in reads.list_jobs(store.engine)] == [
        (1, "running"), (2, "pending"),
    ]  # fmt: skip
    got = reads.get_work(store.engine, 1, "1")
    assert got is not None and (got["status"], got["host"], got["token"]) == (
        "running", "h1", "t1",
    )  # fmt: skip
    loaded = store.load_job(2)
    assert loaded is not None and [s["subid"] for s in loaded[1]] == [0]
    assert [w["name"] for w in loaded[2]] == ["1"]
    with pytest.raises(StoreError):  # event 2 exists: none of this commit is kept
        store.flush(Changes(counters={"job_id": 3}, job_inserts=[job_row(3, "c")],
                            job_updates=[{**hot, "status": "complete"}],
                            events=[event_row(2)]))  # fmt: skip
    assert store.counters()["job_id"] == 2
    assert [(j["id"], j["status"]) for j in reads.list_jobs(store.engine)] == [
        (1, "running"), (2, "pending"),
    ]  # fmt: skip
    store.flush(Changes(counters={"job_id": 3, "event_seq": 3}, job_inserts=[job_row(3, "c")],
                        events=[event_row(3, 3)]))  # fmt: skip
    assert [j["id"] for j in reads.list_jobs(store.engine)] == [1, 2, 3]
    assert len(reads.list_events(store.engine)) == 3


def test_event_seq_is_unique(store: Store) -> None:
    store.flush(Changes(events=[event_row(1)]))
    with pytest.raises(StoreError):
        store.flush(Changes(events=[event_row(1)]))
    assert len(reads.list_events(store.engine)) == 1


def test_many_rows_of_each_shape_round_trip(store: Store) -> None:
    """A commit with several rows per kind of change (on PostgreSQL: one statement per kind,
    the rows as one JSON parameter) stores every value as it was given."""
    jobs = [job_row(1, "a"), job_row(2, "b")]
    items = [work_row(1, f"it\u00e9m {i}", i) for i in range(4)]
    store.flush(Changes(job_inserts=jobs, work_inserts=items))
    first = work_row(1, "it\u00e9m 1", 1) | {"status": "running", "host": "h1", "token": "t"}
    results: list[Any] = ["text", None, {"k": [1, 2.5, None]}]
    updates = [
        work_row(1, "it\u00e9m 0", 0)
        | {"status": "complete", "exit_code": 5.0, "result": results[0], "timestart": 0.1},
        first,
        work_row(1, "it\u00e9m 2", 2) | {"status": "failed", "result": results[1], "retry": 2},
        work_row(1, "it\u00e9m 1", 1) | {"status": "complete", "result": results[2]},  # wins
    ]
    job_updates = [  # what changes as a job runs
        {k: v for k, v in jobs[0].items() if k in ("id", *JOB_HOT)}
        | {"status": "running", "todotally": {"complete": 1, "running": 1}},
    ]
    job_respecs = [  # a modified job: the whole row
        jobs[1] | {"reason": 'it\'s "quoted"', "fields": {"x": "y"}, "timestart": 1e-300},
    ]
    events = [event_row(1, 1), event_row(2, 1) | {"data": None}, event_row(3) | {"data": "s"}]
    store.flush(
        Changes(
            counters={"event_seq": 3},
            job_updates=job_updates,
            job_respecs=job_respecs,
            work_updates=updates,
            events=events,
            timer_upserts=[
                {"key": k, "due": 1.5, "kind": "k", "payload": {"n": i}}
                for i, k in enumerate(("t1", "t2", "t3"))
            ],
        )
    )
    store.flush(Changes(timer_deletes=["t1", "t3", "t1"]))
    loaded = store.load_job(1)
    assert loaded is not None
    row, _, got = loaded
    assert row["status"] == "running" and row["todotally"] == {"complete": 1, "running": 1}
    assert [(w["status"], w["result"], w["exit_code"]) for w in got] == [
        ("complete", "text", 5),
        ("complete", {"k": [1, 2.5, None]}, None),
        ("failed", None, None),
        ("pending", None, None),
    ]
    assert got[0]["timestart"] == 0.1 and got[2]["retry"] == 2 and got[1]["host"] is None
    other = store.load_job(2)
    assert other is not None
    assert other[0]["reason"] == 'it\'s "quoted"' and other[0]["fields"] == {"x": "y"}
    assert other[0]["timestart"] == 1e-300
    stored = sorted(reads.list_events(store.engine), key=lambda e: e["seq"])
    assert [e["data"] for e in stored] == [{"k": [1, "two"]}, None, "s"]
    assert store.counters()["event_seq"] == 3
    assert [(t["key"], t["payload"]) for t in store.load_timers()] == [("t2", {"n": 1})]


def test_big_agenda_is_written_in_chunks(store: Store) -> None:
    rows = [work_row(1, str(i), i) for i in range(12_345)]
    store.flush(Changes(job_inserts=[job_row(1, "a")], work_inserts=rows))
    loaded = store.load_job(1)
    assert loaded is not None and len(loaded[2]) == 12_345


# ---------------------------------------------------------------- reads


def test_list_jobs_filters(farm: Farm) -> None:
    farm.submit(job("1", name="beauty", label="a"), job("1", name="shadow", priority=3))
    farm.submit(job("1", name="beauty_v2", status="blocked"), user="bob")
    db = farm.db
    assert [j["id"] for j in reads.list_jobs(db, status=["blocked"])] == [3]
    assert [j["id"] for j in reads.list_jobs(db, status=["pending", "blocked"])] == [1, 2, 3]
    assert [j["id"] for j in reads.list_jobs(db, pgrp=1)] == [1, 2]
    assert [j["id"] for j in reads.list_jobs(db, label="a")] == [1]
    assert [j["id"] for j in reads.list_jobs(db, user="bob")] == [3]
    assert [j["id"] for j in reads.list_jobs(db, name="beauty")] == [1]
    assert [j["id"] for j in reads.list_jobs(db, name="beauty*")] == [1, 3]
    assert [j["id"] for j in reads.list_jobs(db, name="*a*")] == [1, 2, 3]
    assert [j["id"] for j in reads.list_jobs(db, ids=[3, 1])] == [1, 3]
    assert [j["id"] for j in reads.list_jobs(db, limit=1, offset=1)] == [2]
    summary = reads.list_jobs(db, ids=[2])[0]
    assert "package" not in summary and "fields" not in summary
    assert summary["priority"] == 3


def test_list_events_filters(farm: Farm) -> None:
    farm.submit(job("1"))
    farm.submit(job("1"))
    all_ = farm.events()
    assert [e["seq"] for e in all_] == list(range(1, len(all_) + 1))
    assert {e["job"] for e in farm.events(job=2)} == {2}
    after = reads.list_events(farm.db, after=2, limit=1)
    assert [e["seq"] for e in after] == [3]


def test_list_hosts(farm: Farm) -> None:
    farm.register("b", 2, groups=["gpu"], cluster="/farm", properties={"os": "linux"})
    farm.register("a", 1)
    hosts = reads.list_hosts(farm.db)
    assert [h["name"] for h in hosts] == ["a", "b"]
    b = hosts[1]
    assert (b["state"], b["slots"], b["groups"], b["cluster"], b["properties"]) == (
        "active",
        2,
        ["gpu"],
        "/farm",
        {"os": "linux"},
    )


def test_name_glob_matches_special_characters_literally(farm: Farm) -> None:
    farm.submit(*[job("1", name=n) for n in ("a_b", "axb", "50%off", "50xoff")])
    assert [j["name"] for j in reads.list_jobs(farm.db, name="a_b*")] == ["a_b"]
    assert [j["name"] for j in reads.list_jobs(farm.db, name="50%*")] == ["50%off"]


def test_name_glob_is_case_sensitive_like_exact_names(
    farm: Farm, request: pytest.FixtureRequest
) -> None:
    farm.submit(job("1", name="Beauty"), job("1", name="beauty"))
    assert [j["name"] for j in reads.list_jobs(farm.db, name="Beauty")] == ["Beauty"]
    assert [j["name"] for j in reads.list_jobs(farm.db, name="Beau*")] == ["Beauty"]


def test_only_the_hot_kinds_of_change_go_as_one_statement() -> None:
    """PostgreSQL writes a commit as one statement only when it holds nothing else: every
    other kind of change (a kind added later too) sends it through a transaction."""
    hot = Changes(counters={"job_id": 1}, job_inserts=[job_row(1, "a")],
                  work_inserts=[work_row(1, "1", 0)], events=[event_row(1)])  # fmt: skip
    assert _only_hot(hot)
    for f in dataclasses.fields(Changes):
        if f.name in WHOLE_KINDS:
            continue
        other = dataclasses.replace(hot, **{f.name: 0.0 if f.name == "purge_before" else [1]})
        assert not _only_hot(other), f.name
    many = [work_row(1, str(i), i) for i in range(COPY_FROM)]  # COPY: not in one statement
    assert not _only_hot(dataclasses.replace(hot, work_inserts=many))


def test_a_commit_runs_the_statement_of_only_the_clauses_it_has_rows_for(pg_url: str) -> None:
    store = Store(pg_url)  # one-statement commits are PostgreSQL's
    try:
        _check_shapes(store)
    finally:
        store.close()


def _check_shapes(store: Store) -> None:
    whole = store._whole
    assert whole is not None
    rows: list[list[dict[str, Any]]] = [[] for _ in whole.statements]
    rows[whole.statements.index(store._job_ins)] = [job_row(1, "a")]
    rows[whole.statements.index(store._event_ins)] = [event_row(1, 1)]
    part, part_rows = whole.shape(rows)
    assert part.statements == [store._job_ins, store._event_ins]
    assert part_rows == [[job_row(1, "a")], [event_row(1, 1)]]
    assert 'UPDATE "counters"' not in part.sql and 'INTO "work"' not in part.sql
    assert whole.shape(rows)[0] is part  # one statement per shape, kept
    assert whole.shape([[{"x": 1}]] * len(whole.statements))[0] is whole
    with pytest.raises(ValueError, match="lists of rows"):
        whole.shape(rows[:-1])
    store.flush(Changes(counters={"job_id": 1, "event_seq": 1}, job_inserts=[job_row(1, "a")],
                        events=[event_row(1, 1)]))  # fmt: skip
    assert [j["id"] for j in reads.list_jobs(store.engine)] == [1]
    assert [e["seq"] for e in reads.list_events(store.engine)] == [1]
