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


def test_batched_updates_find_rows_by_key_on_postgresql(pg_url: str) -> None:
    """A commit's hot rows go as one statement; its (generic, prepared) plan must look
    the rows up by primary key, not hash-join a whole table of thousands of rows."""
    store = Store(pg_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO jobs SELECT g, 1, NULL, g::text, 'n', 'u', 1, 'complete', "
                    "'cmdrange', 1, 1, '', 1, '{}', '{}', '{}', 1, NULL, NULL, 1 "
                    "FROM generate_series(1, 5000) g"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO work (job_id, name, seq, status, retry) "
                    "SELECT 1, g::text, g, 'complete', 0 FROM generate_series(1, 5000) g"
                )
            )
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO subjobs (job_id, subid, status, retry) "
                    "SELECT g, 0, 'complete', 0 FROM generate_series(1, 5000) g"
                )
            )
        with store.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE jobs"))
            conn.execute(sa.text("ANALYZE work"))
            conn.execute(sa.text("ANALYZE subjobs"))
        hot = store._hot
        assert hot is not None
        n = len(hot.statements)
        with store.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL plan_cache_mode = force_generic_plan"))
            sql = hot.sql
            for i in range(1, n + 1):  # psycopg's %s, in order, as $1 … $n
                sql = sql.replace("%s", f"${i}", 1)
            types = ", ".join(["json"] * n)
            conn.exec_driver_sql(f"PREPARE batch_plan({types}) AS {sql}")
            args = ", ".join(["'[]'"] * n)
            plan = "\n".join(
                r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE batch_plan({args})")
            )
            conn.exec_driver_sql("DEALLOCATE batch_plan")
        for index in ("jobs_pkey", "work_pkey", "subjobs_pkey"):
            assert f"Index Scan using {index}" in plan, plan
        assert "Seq Scan on jobs" not in plan and "Seq Scan on work" not in plan, plan
    finally:
        store.close()
