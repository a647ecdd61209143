from __future__ import annotations

import os

from huey import SqliteHuey
from task_apps import record as _record

huey = SqliteHuey("bench", filename=os.environ.get("BENCH_HUEY_DB", "/tmp/bench-huey.db"))


@huey.task()
def record(n: int) -> int:
    return _record(n)
