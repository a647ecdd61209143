"""The same trivial task for each system of ``bench/tasks_throughput.py``.

Every task appends its number to the file named by ``BENCH_TASKS_FILE`` (one short
``O_APPEND`` write: atomic) and returns it, so the bench can check that each ran exactly once.
"""

from __future__ import annotations

import os


def record(n: int) -> int:
    fd = os.open(os.environ["BENCH_TASKS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{n}\n".encode())
    finally:
        os.close(fd)
    return n
