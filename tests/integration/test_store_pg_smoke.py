from __future__ import annotations

import sqlalchemy as sa

from triggerfish.store.store import Store


def test_schema_is_created_and_upgrade_is_idempotent(db_url: str) -> None:
    store = Store(db_url)
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"jobs", "work", "subjobs", "hosts", "events", "counters"} <= tables
    store.close()
    again = Store(db_url)  # a second start upgrades nothing and keeps working
    assert again.counters() == {
        "event_seq": 0,
        "job_id": 0,
        "callback_id": 0,
        "run_id": 0,
        "schedule_id": 0,
    }
    again.close()
