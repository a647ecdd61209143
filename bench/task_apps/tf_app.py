from __future__ import annotations

from task_apps import record as _record
from triggerfish.tasks import task


@task
def record(n: int) -> int:
    return _record(n)


@task
def echo(n: int) -> int:
    """The trivial call of ``executor_map.py`` (Executor, ProcessPoolExecutor and add_many)."""
    return n
