"""``triggerfish.futures.Executor.map`` of trivial calls on a local farm, against
``concurrent.futures.ProcessPoolExecutor`` and the tasks API's ``add_many`` on this machine.

    python bench/executor_map.py [--calls 10000] [--workers 2] [--chunksize 1] [--chunked 100]
        [--batch 10000] [--store sqlite|postgresql] [--repeat 3]
        [--systems executor,executor-chunked,processpool,add_many] [--json]

The call is the same everywhere: ``tf_app.echo(n)`` (``bench/task_apps``), which returns
``n``. Each run starts what it needs first (not timed: a farm of ``--workers`` workers of one
slot each, or a ``ProcessPoolExecutor(--workers)`` whose processes have run one call), then
times:

- ``executor``: ``list(Executor().map(echo, range(N), chunksize=C))``, from the call of
  ``map`` (one job of N/C items, one request) until the client holds every result, read back
  from the items' result packages. The calls run in the ``pyfutures`` job type, one process
  per worker slot running item after item.
- ``executor-chunked``: the same with ``chunksize=--chunked`` (N/100 items of 100 calls).
- ``processpool``: ``list(ProcessPoolExecutor(W).map(echo, range(N), chunksize=C))``.
- ``add_many``: ``Tasks.add_many("tf_app:echo", ...)`` of the N calls, ``--batch`` per request
  (one task job each), until no job is active (the results are stored; the client does not
  read them, as in ``tasks_throughput.py``).

The systems take turns, round after round (``--repeat``), each on a fresh farm. CPU is the
user+system time of the supervisor, the workers and their children (the job type and task
processes), per call; "client" is this process's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from _common import Stat, code_line, code_state, cpu, database, machine, say, table

from triggerfish.cli.local import LocalFarm

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH / "task_apps"))
from tf_app import echo  # noqa: E402  (bench/task_apps, also on the workers' PYTHONPATH)

SYSTEMS = ("executor", "executor-chunked", "processpool", "add_many")
DONE_TIMEOUT = 1800.0


def me() -> float:
    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


@contextlib.contextmanager
def farm(store: str, workers: int, tmp: Path) -> Iterator[LocalFarm]:
    """A fresh farm whose workers (offering the built-in ``pyfutures``) import ``tf_app``."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(BENCH / "task_apps"), str(BENCH), saved) if p
    )
    try:
        with (
            database(store) as db,
            LocalFarm(workers=workers, slots=1, data_dir=tmp / "farm", db_url=db,
                      log_level="warning") as f,
        ):  # fmt: skip
            yield f
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def timed(run: Callable[[], int], pids: list[int], n: int) -> dict[str, float]:
    cpu0, me0 = cpu(pids), me()
    began = time.perf_counter()
    checked = run()
    seconds = time.perf_counter() - began
    return {
        "calls_per_s": n / seconds,
        "seconds": seconds,
        "system_cpu_ms_per_call": 1000 * (cpu(pids) - cpu0) / n,
        "client_cpu_ms_per_call": 1000 * (me() - me0) / n,
        "wrong": float(checked),
    }


def run_executor(args: argparse.Namespace, tmp: Path, chunksize: int = 0) -> dict[str, float]:
    from triggerfish.futures import Executor

    n = args.calls
    chunksize = chunksize or args.chunksize
    with farm(args.store, args.workers, tmp) as f, Executor(f.url, token=f.token) as ex:
        pids = [f.supervisor.pid, *(w.pid for w in f.workers)]  # type: ignore[union-attr]

        def run() -> int:
            got = list(ex.map(echo, range(n), chunksize=chunksize))
            return sum(1 for i, v in enumerate(got) if v != i) + abs(len(got) - n)

        return timed(run, pids, n)


def run_chunked(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    return run_executor(args, tmp, args.chunked)


def run_processpool(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    n = args.calls
    with concurrent.futures.ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(echo, range(args.workers)))  # the processes are up
        pids = [p.pid for p in psutil.Process().children() if p.pid]

        def run() -> int:
            got = list(pool.map(echo, range(n), chunksize=args.chunksize))
            return sum(1 for i, v in enumerate(got) if v != i) + abs(len(got) - n)

        return timed(run, pids, n)


def run_add_many(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from triggerfish.tasks import Tasks

    n = args.calls
    with farm(args.store, args.workers, tmp) as f, f.client() as client, Tasks(client) as api:
        pids = [f.supervisor.pid, *(w.pid for w in f.workers)]  # type: ignore[union-attr]

        def run() -> int:
            for k in range(0, n, args.batch):
                api.add_many("tf_app:echo", list(range(k, min(n, k + args.batch))))
            while client.jobs(status="active", limit=1):
                time.sleep(0.01)
            done = client.jobs(status="complete", limit=n + 10)
            return abs(len(done) - n)

        return timed(run, pids, n)


RUNS = {"executor": run_executor, "executor-chunked": run_chunked,
        "processpool": run_processpool, "add_many": run_add_many}  # fmt: skip


def one(name: str, args: argparse.Namespace) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-executor-"))
    try:
        return RUNS[name](args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunksize", type=int, default=1)
    ap.add_argument("--chunked", type=int, default=100, help="executor-chunked: its chunksize")
    ap.add_argument("--batch", type=int, default=10_000, help="add_many: tasks per request")
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    code = code_state()
    say(f"machine: {machine()}; load average {os.getloadavg()}")
    names = args.systems.split(",")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for r in range(args.repeat):  # the systems take turns: a slower minute falls on all
        for name in names:
            say(f"{name}, {args.workers} worker(s), {args.calls} calls, run {r + 1} ...")
            runs[name].append(one(name, args))
            say("  " + json.dumps({k: round(v, 3) for k, v in runs[name][-1].items()}))
    results = {name: {k: Stat([row[k] for row in rows]) for k in rows[0]}
               for name, rows in runs.items() if rows}  # fmt: skip
    if args.json:
        out: dict[str, Any] = {name: {k: v.as_dict() for k, v in st.items()}
                               for name, st in results.items()}  # fmt: skip
        print(json.dumps(out, indent=2))
        return
    header = ["system", "calls/s", "seconds", "system CPU ms/call", "client CPU ms/call",
              "wrong or missing"]  # fmt: skip
    rows = [[name, f"**{st['calls_per_s'].fmt(0)}**", st["seconds"].fmt(2),
             st["system_cpu_ms_per_call"].fmt(3), st["client_cpu_ms_per_call"].fmt(3),
             f"{st['wrong'].max:.0f}"] for name, st in results.items()]  # fmt: skip
    print(table(header, rows))
    print(f"\n{args.calls} calls, {args.workers} workers (1 slot each), chunksize "
          f"{args.chunksize} (executor-chunked: {args.chunked}), add_many batch {args.batch}, "
          f"{args.store}, {args.repeat} round(s); load average after: {os.getloadavg()}; "
          f"{code_line(code)}")  # fmt: skip


if __name__ == "__main__":
    main()
