from __future__ import annotations

import os

from huey import SqliteHuey

from task_apps import record as _record

# timeout: SQLite's busy timeout (huey's default, 5 s, is too short for 2 consumers + the client
# on a loaded machine: "database is locked")
huey = SqliteHuey(
    "bench", filename=os.environ.get("BENCH_HUEY_DB", "/tmp/bench-huey.db"), timeout=60
)


@huey.task()
def record(n: int) -> int:
    return _record(n)
