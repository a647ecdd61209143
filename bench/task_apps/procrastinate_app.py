from __future__ import annotations

import os

from procrastinate import App, PsycopgConnector

from task_apps import record as _record

app = App(connector=PsycopgConnector(conninfo=os.environ.get("BENCH_PROCRASTINATE_DSN", "")))


@app.task(name="record")
def record(n: int) -> int:
    return _record(n)
