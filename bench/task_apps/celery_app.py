from __future__ import annotations

import os

from celery import Celery

from task_apps import record as _record

app = Celery(
    "bench",
    broker=os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/14"),
    backend=os.environ.get("BENCH_CELERY_BACKEND", "redis://127.0.0.1:6379/15"),
)
app.conf.update(worker_hijack_root_logger=False)  # celery's defaults otherwise


@app.task
def record(n: int) -> int:
    return _record(n)
