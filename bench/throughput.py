"""Frames per second end to end: N frames of ``true`` through a LocalFarm, against a bare loop.

    python bench/throughput.py [--frames 5000] [--workers 2] [--slots 1] [--chunk 1]
                               [--store sqlite|postgresql|both] [--repeat 3] [--json]
                               [--idle]

Each repeat starts a fresh LocalFarm (fresh temporary data dir; on PostgreSQL a fresh schema,
dropped afterwards; log level warning), submits one cmdrange job of N frames of ``true`` with
``cpus`` = workers x slots, and measures from just before ``Client.submit`` to the return of
``Client.wait``. Around that window it reads the CPU time (user + system) of the supervisor
process and of the worker processes (not their children, the commands).

On PostgreSQL it also reads, over the same window, the CPU time of the server processes (the
server runs on the same machine): "PG backends" are the backends serving the supervisor's
connections (found in ``pg_stat_activity`` by the supervisor's client ports; a backend that
appears during the window counts whole, one that exits is lost), "PG aux" the server's own
processes (postmaster, WAL writer, checkpointer, background writer, autovacuum; shared with
anything else using the server at the time).
Statements and commits per frame: ``bench/profile_throughput.py`` (its counting run).

``--idle``: a thread of this process also samples, about every millisecond, whether each
worker has a command running (its children in ``/proc/PID/task/*/children``) and reports the
share of samples in which a worker had none: the time its slot stood idle, waiting for work
or spent by the worker between two commands (it costs this process some CPU; Linux only).

In the same repeat, a bare loop spawns as many ``true`` commands with the same parallelism,
three ways: a ThreadPoolExecutor of WxS threads doing ``subprocess.run(["true"])``, the same
threads doing ``os.posix_spawn`` + ``waitpid``, and asyncio subprocesses behind a semaphore of
WxS. The ratio compares triggerfish with the fastest of the three (by median).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
import sqlalchemy as sa
from _common import (
    PG_URL,
    Stat,
    code_line,
    code_state,
    database,
    machine,
    say,
    stats,
    stores,
    table,
)

from triggerfish.cli.local import LocalFarm

GOAL_RATIO = 0.6
GOAL_SUP_CPU = 0.5  # seconds of supervisor CPU per 1,000 frames


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


# ---------------------------------------------------------------- the PostgreSQL server


AUX = ("writer", "checkpointer", "autovacuum", "walwriter", "launcher")  # in process titles


class PgServer:
    """CPU time of the PostgreSQL server processes and the server's counters, around a window."""

    def __init__(self, supervisor: psutil.Process, db_url: str) -> None:
        self.sup = supervisor
        self.schema = db_url.rsplit("search_path%3D", 1)[-1]
        self.eng = sa.create_engine(PG_URL)

    def close(self) -> None:
        self.eng.dispose()

    def _backends(self) -> set[int]:
        """PIDs of the backends serving the supervisor's connections to the server."""
        ports = {
            c.laddr.port
            for c in self.sup.net_connections(kind="tcp")
            if c.raddr and c.raddr.port == 5432
        }
        if not ports:
            return set()
        with self.eng.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT pid, client_port FROM pg_stat_activity WHERE client_port IS NOT NULL"
                )
            ).all()
        return {int(pid) for pid, port in rows if port in ports}

    @staticmethod
    def _aux() -> dict[int, psutil.Process]:
        """The server's own processes (not client backends): postmaster and background ones."""
        out = {}
        for p in psutil.process_iter(["name", "cmdline"]):
            try:
                cmd = " ".join(p.info["cmdline"] or [])
            except (psutil.Error, TypeError):
                continue
            if p.info["name"] != "postgres":
                continue
            background = any(w in cmd for w in AUX)
            if background or not cmd.startswith("postgres: "):  # or the postmaster
                out[p.pid] = p
        return out

    def _cpu(self, pids: set[int]) -> dict[int, float]:
        out = {}
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                out[pid] = cpu_seconds(psutil.Process(pid))
        return out

    def snapshot(self) -> dict[str, Any]:
        back = self._backends()
        aux = self._aux()
        return {
            "backends": self._cpu(back),
            "aux": self._cpu(set(aux)),
        }

    def window(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
        """CPU seconds of the backends and of the aux processes between two snapshots."""

        def diff(x: dict[int, float], y: dict[int, float]) -> float:
            return sum(v - x.get(pid, 0.0) for pid, v in y.items())

        return {
            "pg_backend_cpu": diff(a["backends"], b["backends"]),
            "pg_aux_cpu": diff(a["aux"], b["aux"]),
        }


# ---------------------------------------------------------------- idle workers


def running_children(pid: int) -> int:
    n = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                n += len(f.read().split())
    except OSError:
        pass
    return n


class IdleSampler:
    """Samples, about every ms, which workers have no command running."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.samples = 0
        self.idle = [0] * len(pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples += 1
            for i, pid in enumerate(self.pids):
                if running_children(pid) == 0:
                    self.idle[i] += 1
            time.sleep(0.001)

    def __enter__(self) -> IdleSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def share(self) -> float:
        """The mean share of samples in which a worker had no command running."""
        return sum(self.idle) / (self.samples * len(self.pids)) if self.samples else float("nan")


# ---------------------------------------------------------------- the bare loops


def bare_threads_run(n: int, parallel: int) -> float:
    def one(_: int) -> None:
        subprocess.run(["true"], check=True)

    began = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - began)


def bare_threads_posix_spawn(n: int, parallel: int) -> float:
    exe = shutil.which("true") or "/bin/true"
    env = dict(os.environ)

    def one(_: int) -> None:
        pid = os.posix_spawn(exe, [exe], env)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError("true failed")

    began = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - began)


def bare_asyncio(n: int, parallel: int) -> float:
    async def main() -> None:
        gate = asyncio.Semaphore(parallel)

        async def one() -> None:
            async with gate:
                proc = await asyncio.create_subprocess_exec("true")
                if await proc.wait() != 0:
                    raise RuntimeError("true failed")

        await asyncio.gather(*(one() for _ in range(n)))

    began = time.perf_counter()
    asyncio.run(main())
    return n / (time.perf_counter() - began)


BARE: dict[str, Callable[[int, int], float]] = {
    "threads+subprocess.run": bare_threads_run,
    "threads+posix_spawn": bare_threads_posix_spawn,
    "asyncio subprocess": bare_asyncio,
}


# ---------------------------------------------------------------- triggerfish


def farm_run(
    store: str, frames: int, workers: int, slots: int, chunk: int, idle: bool = False
) -> dict[str, float]:
    """One fresh farm, one job; the measurements of the submit → complete window."""
    cpus = workers * slots
    job = {
        "name": "bench-throughput",
        "prototype": "cmdrange",
        "cpus": cpus,
        "package": {"cmdline": "true", "range": f"1-{frames}", "chunk": chunk},
    }
    with (
        database(store) as db_url,
        LocalFarm(workers=workers, slots=slots, db_url=db_url, log_level="warning") as farm,
    ):
        assert farm.supervisor is not None
        sup = psutil.Process(farm.supervisor.pid)
        wks = [psutil.Process(p.pid) for p in farm.workers]
        me = psutil.Process()
        pg = PgServer(sup, db_url) if db_url is not None else None
        with farm.client(timeout=120.0) as client:
            client.jobs()  # the supervisor has its connections open before the first snapshot
            pg0 = pg.snapshot() if pg is not None else None
            sup0 = cpu_seconds(sup)
            wk0 = sum(cpu_seconds(w) for w in wks)
            me0 = cpu_seconds(me)
            sys0 = psutil.cpu_times()
            sampler = IdleSampler([w.pid for w in wks] if idle else [])
            began = time.perf_counter()
            with contextlib.ExitStack() as stack:
                if idle:
                    stack.enter_context(sampler)
                [submitted] = client.submit(job)
                status = client.wait(submitted["id"], timeout=600.0)
            elapsed = time.perf_counter() - began
            sys1 = psutil.cpu_times()
            me1 = cpu_seconds(me)
            sup1 = cpu_seconds(sup)
            wk1 = sum(cpu_seconds(w) for w in wks)
            pg_cpu = pg.snapshot() if pg is not None else None
            summary = client.job(submitted["id"], agenda=False)
        server: dict[str, float] = {}
        if pg is not None and pg0 is not None and pg_cpu is not None:
            server = pg.window(pg0, pg_cpu)
            pg.close()
        if status[submitted["id"]] != "complete":
            raise RuntimeError(f"the job ended {status}: {summary}")
    items = -(-frames // chunk)
    per_k = 1000.0 / frames
    return {
        "seconds": elapsed,
        "frames_per_s": frames / elapsed,
        "items_per_s": items / elapsed,
        "sup_cpu_per_1k": (sup1 - sup0) * per_k,
        "workers_cpu_per_1k": (wk1 - wk0) * per_k,
        "client_cpu_per_1k": (me1 - me0) * per_k,  # this process: submit + Client.wait
        "sup_busy": (sup1 - sup0) / elapsed,  # cores the supervisor kept busy
        "machine_busy": busy(sys0, sys1),  # share of all the machine's CPUs in use
        "pg_backend_cpu_per_1k": server.get("pg_backend_cpu", float("nan")) * per_k,
        "pg_aux_cpu_per_1k": server.get("pg_aux_cpu", float("nan")) * per_k,
        "workers_idle": sampler.share(),  # --idle: share of time a worker ran no command
    }


def busy(t0: Any, t1: Any) -> float:
    """The share of the machine's CPU time that was not idle between two psutil.cpu_times()."""
    total = sum(t1) - sum(t0)
    idle = (t1.idle - t0.idle) + (getattr(t1, "iowait", 0.0) - getattr(t0, "iowait", 0.0))
    return (total - idle) / total if total > 0 else 0.0


def bench_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    parallel = args.workers * args.slots
    items = -(-args.frames // args.chunk)
    farm_rows: list[dict[str, float]] = []
    bare_rows: list[dict[str, float]] = []
    for i in range(1, args.repeat + 1):
        row = farm_run(store, args.frames, args.workers, args.slots, args.chunk, args.idle)
        say(
            f"[{store} {i}/{args.repeat}] triggerfish: {row['frames_per_s']:.0f} frames/s, "
            f"supervisor {row['sup_cpu_per_1k']:.3f} s CPU/1k frames, "
            f"workers {row['workers_cpu_per_1k']:.3f} s CPU/1k frames"
            + (
                f", PG backends {row['pg_backend_cpu_per_1k']:.3f} + aux "
                f"{row['pg_aux_cpu_per_1k']:.3f} s CPU/1k frames"
                if store == "postgresql"
                else ""
            )
            + (f", workers idle {100 * row['workers_idle']:.0f}%" if args.idle else "")
        )
        farm_rows.append(row)
        bare = {name: fn(items, parallel) for name, fn in BARE.items()}
        say(
            f"[{store} {i}/{args.repeat}] bare: "
            + ", ".join(f"{k} {v:.0f}/s" for k, v in bare.items())
        )
        bare_rows.append(bare)
    farm_stats = stats(farm_rows)
    bare_stats = stats(bare_rows)
    best = max(bare_stats, key=lambda k: bare_stats[k].median)
    ratio = Stat([r["items_per_s"] / b[best] for r, b in zip(farm_rows, bare_rows, strict=True)])
    return {
        "store": store,
        "triggerfish": farm_stats,
        "bare": bare_stats,
        "bare_best": best,
        "ratio": ratio,
    }


def report_markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = [
        "store",
        "triggerfish frames/s",
        "bare spawns/s (fastest method)",
        f"ratio (goal ≥ {GOAL_RATIO})",
        f"supervisor CPU s/1k frames (goal ≤ {GOAL_SUP_CPU})",
        "workers CPU s/1k frames",
        "client CPU s/1k frames",
        "PG backends CPU s/1k frames",
        "PG aux CPU s/1k frames",
        "supervisor busy (cores)",
        "machine busy",
        "wall s",
    ]
    if args.idle:
        head.append("workers idle (no command running)")
    rows = []
    for r in results:
        tf: dict[str, Stat] = r["triggerfish"]
        rows.append(
            [
                r["store"],
                tf["frames_per_s"].fmt(0),
                f"{r['bare'][r['bare_best']].fmt(0)} {r['bare_best']}",
                r["ratio"].fmt(2),
                tf["sup_cpu_per_1k"].fmt(3),
                tf["workers_cpu_per_1k"].fmt(3),
                tf["client_cpu_per_1k"].fmt(3),
                *(
                    (
                        tf["pg_backend_cpu_per_1k"].fmt(3),
                        tf["pg_aux_cpu_per_1k"].fmt(3),
                    )
                    if r["store"] == "postgresql"
                    else ("-", "-")
                ),
                tf["sup_busy"].fmt(2),
                f"{100 * tf['machine_busy'].median:.0f}%",
                tf["seconds"].fmt(2),
            ]
        )
        if args.idle:
            rows[-1].append(f"{100 * tf['workers_idle'].median:.0f}%")
    bare_head = ["store", *BARE]
    bare_rows = [[r["store"], *(r["bare"][k].fmt(0) for k in BARE)] for r in results]
    return (
        table(head, rows)
        + "\n\nBare loops (spawns/s, same parallelism):\n\n"
        + table(bare_head, bare_rows)
        + f"\n\nmedian (min-max) of {args.repeat} runs; {args.frames} frames, chunk {args.chunk}, "
        f"{args.workers} worker(s) x {args.slots} slot(s)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slots", type=int, default=1)
    p.add_argument("--chunk", type=int, default=1)
    p.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="sqlite")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--idle", action="store_true", help="sample how long workers ran no command")
    args = p.parse_args(argv)
    code = code_state()
    if args.frames < 1 or args.workers < 1 or args.slots < 1 or args.chunk < 1 or args.repeat < 1:
        p.error("--frames, --workers, --slots, --chunk and --repeat must be >= 1")
    results = [bench_store(store, args) for store in stores(args.store)]
    footer = code_line(code)
    if args.json:
        doc = {
            "benchmark": "throughput",
            "machine": machine(),
            "code": code,
            "params": vars(args),
            "results": [
                {
                    "store": r["store"],
                    "triggerfish": {k: v.as_dict() for k, v in r["triggerfish"].items()},
                    "bare": {k: v.as_dict() for k, v in r["bare"].items()},
                    "bare_best": r["bare_best"],
                    "ratio": r["ratio"].as_dict(),
                }
                for r in results
            ],
        }
        json.dump(doc, sys.stdout, indent=2)
        print()
    else:
        print(report_markdown(results, args))
        print(footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
