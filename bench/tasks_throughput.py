"""Trivial tasks end to end (add -> result stored), triggerfish against huey, rq, celery and
procrastinate, run the same way.

    python bench/tasks_throughput.py [--tasks 2000] [--workers 1,2] [--repeat 1]
        [--systems triggerfish-sqlite,triggerfish-postgresql,huey,rq,celery-redis,
                   celery-rabbitmq,procrastinate] [--json] [--batch N]

For each system and worker count: start W worker processes of one slot each (huey: one
consumer with W worker processes; celery: one worker with --concurrency W, prefork), wait
until they are up, then time from the first add to the moment every result is stored. The
adds are made one by one from this process, with each system's usual call (``tasks.add``,
``task(n)``, ``queue.enqueue``, ``task.delay``, ``task.defer``). Every task appends its number
to a file and returns it: after each run the file must hold each number exactly once.

"Result stored": triggerfish keeps the return value in the task's work item; huey in its
SQLite result store; rq and celery in Redis; procrastinate keeps no return value, so its end is
every job in status ``succeeded``.

The systems take turns: each round runs every system once, one after the other, and the
rounds repeat (``--repeat``); after the table, each triggerfish system's tasks/s is given as a
share of the fastest peer's of the same round (this machine's speed changes from minute to
minute, so a round's pair is a fairer comparison than the medians of runs made apart).

``--batch N`` (triggerfish only, not the way the peers run): the tasks are added N at a time
with ``tasks.add_many``, one request and one commit for each N.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from _common import PG_URL, ROOT, Stat, code_line, code_state, cpu, database, machine, say, table

from triggerfish.cli.local import LocalFarm, child_env

BENCH = Path(__file__).resolve().parent
REDIS = "redis://127.0.0.1:6379"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"
SYSTEMS = ("triggerfish-sqlite", "triggerfish-postgresql", "huey", "rq", "celery-redis",
           "celery-rabbitmq", "procrastinate")  # fmt: skip
UP_TIMEOUT = 60.0
DONE_TIMEOUT = 1200.0


def env(extra: dict[str, str]) -> dict[str, str]:
    e = child_env()
    e["PYTHONPATH"] = os.pathsep.join([str(BENCH / "task_apps"), str(BENCH), e["PYTHONPATH"]])
    e.update(extra)
    return e


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


class Procs:
    """Worker processes of one run, stopped (and killed if need be) at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_dir = log_dir

    def start(self, name: str, argv: list[str], environ: dict[str, str]) -> None:
        log = (self.log_dir / f"{name}-{len(self.procs)}.log").open("wb")
        self.procs.append(subprocess.Popen(argv, env=environ, stdout=log,
                                           stderr=subprocess.STDOUT, cwd=BENCH,
                                           start_new_session=True))  # fmt: skip

    def check(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"worker {p.args} exited with {p.returncode}")

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 15)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, 9)
                p.wait()


def exactly_once(path: Path, n: int) -> tuple[int, int]:
    """(duplicated, missing) task numbers in the runs file."""
    counts = Counter(int(x) for x in path.read_text().split()) if path.exists() else Counter()
    dupes = sum(1 for c in counts.values() if c > 1)
    missing = sum(1 for i in range(n) if i not in counts)
    return dupes, missing


# ---------------------------------------------------------------- the systems


@contextlib.contextmanager
def run_triggerfish(store: str, workers: int, tmp: Path, runs: Path) -> Iterator[Any]:
    from triggerfish.tasks import Tasks

    os.environ["BENCH_TASKS_FILE"] = str(runs)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = env({})["PYTHONPATH"]
    try:
        with (
            database(store) as db,
            LocalFarm(workers=workers, slots=1, data_dir=tmp / "farm", db_url=db,
                      log_level="warning") as farm,
            farm.client() as client,
            Tasks(client) as api,
        ):  # fmt: skip

            def add(i: int | list[int]) -> None:
                if isinstance(i, list):  # --batch: one add_many for several
                    api.add_many("tf_app:record", i)
                else:
                    api.add("tf_app:record", i)

            def done(n: int) -> bool:
                return not client.jobs(status="active", limit=1)

            def verify(n: int) -> int:
                got = client.tasks(limit=n + 10)
                ok = [t for t in got if t["status"] == "complete" and t["result"] is not None]
                return len(ok)

            yield add, done, verify, [farm.supervisor.pid, *(w.pid for w in farm.workers)]  # type: ignore[union-attr]
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@contextlib.contextmanager
def run_huey(workers: int, tmp: Path, runs: Path) -> Iterator[Any]:
    db = tmp / "huey.db"
    e = env({"BENCH_TASKS_FILE": str(runs), "BENCH_HUEY_DB": str(db)})
    os.environ.update({"BENCH_HUEY_DB": str(db), "BENCH_TASKS_FILE": str(runs)})
    sys.path[:0] = [str(BENCH / "task_apps"), str(BENCH)]
    import huey_app  # type: ignore[import-not-found]

    procs = Procs(tmp)
    procs.start("huey", [shutil.which("huey_consumer") or "huey_consumer", "huey_app.huey",
                         "-w", str(workers), "-k", "process", "-q"], e)  # fmt: skip
    try:
        time.sleep(2.0)  # huey has no readiness call; the consumer polls the database
        procs.check()

        def add(i: int) -> None:
            huey_app.record(i)

        def done(n: int) -> bool:
            return int(huey_app.huey.result_count()) >= n

        def verify(n: int) -> int:
            return int(huey_app.huey.result_count())

        yield add, done, verify, [p.pid for p in procs.procs]
    finally:
        procs.stop()


@contextlib.contextmanager
def run_rq(workers: int, tmp: Path, runs: Path) -> Iterator[Any]:
    import redis
    from rq import Queue, Worker
    from rq.registry import FinishedJobRegistry

    url = f"{REDIS}/13"
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    queue = Queue("bench", connection=conn)
    e = env({"BENCH_TASKS_FILE": str(runs)})
    procs = Procs(tmp)
    rq_bin = shutil.which("rq") or "rq"
    for i in range(workers):
        name = f"bench-{uuid.uuid4().hex[:6]}-{i}"
        procs.start("rq", [rq_bin, "worker", "--url", url, "--name", name, "-q", "bench"], e)
    sys.path[:0] = [str(BENCH / "task_apps"), str(BENCH)]
    import rq_app  # type: ignore[import-not-found]

    registry = FinishedJobRegistry(queue=queue)
    try:
        wait_until(lambda: len(Worker.all(connection=conn)) >= workers, UP_TIMEOUT, "rq workers")

        def add(i: int) -> None:
            queue.enqueue(rq_app.record, i)

        def done(n: int) -> bool:
            return int(registry.count) >= n

        def verify(n: int) -> int:
            return int(registry.count)

        yield add, done, verify, [p.pid for p in procs.procs]
    finally:
        procs.stop()
        conn.flushdb()


@contextlib.contextmanager
def run_celery(broker: str, workers: int, tmp: Path, runs: Path) -> Iterator[Any]:
    import redis

    backend = f"{REDIS}/15"
    results = redis.Redis.from_url(backend)
    results.flushdb()
    broker_url = f"{REDIS}/14" if broker == "redis" else AMQP
    if broker == "redis":
        redis.Redis.from_url(broker_url).flushdb()
    extra = {"BENCH_TASKS_FILE": str(runs), "BENCH_CELERY_BROKER": broker_url,
             "BENCH_CELERY_BACKEND": backend}  # fmt: skip
    os.environ.update(extra)
    sys.path[:0] = [str(BENCH / "task_apps"), str(BENCH)]
    import celery_app  # type: ignore[import-not-found]

    if broker == "amqp":
        celery_app.app.control.purge()
    procs = Procs(tmp)
    procs.start("celery", [sys.executable, "-m", "celery", "-A", "celery_app", "worker",
                           "--concurrency", str(workers), "--pool", "prefork",
                           "--loglevel", "WARNING", "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"],
                env(extra))  # fmt: skip
    try:
        wait_until(lambda: bool(celery_app.app.control.ping(timeout=0.5)), UP_TIMEOUT,
                   "celery worker", every=0.2)  # fmt: skip

        def add(i: int) -> None:
            celery_app.record.delay(i)

        def done(n: int) -> bool:
            return int(results.dbsize()) >= n

        def verify(n: int) -> int:
            return int(results.dbsize())

        yield add, done, verify, [p.pid for p in procs.procs]
    finally:
        procs.stop()
        results.flushdb()


@contextlib.contextmanager
def run_procrastinate(workers: int, tmp: Path, runs: Path) -> Iterator[Any]:
    import psycopg

    schema = "bench_pq_" + uuid.uuid4().hex[:10]
    base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    dsn = f"{base}?options=-csearch_path%3D{schema}"
    extra = {"BENCH_TASKS_FILE": str(runs), "BENCH_PROCRASTINATE_DSN": dsn}
    os.environ.update(extra)
    e = env(extra)
    subprocess.run([sys.executable, "-m", "procrastinate", "--app=procrastinate_app.app",
                    "schema", "--apply"], env=e, cwd=BENCH, check=True,
                   capture_output=True)  # fmt: skip
    sys.path[:0] = [str(BENCH / "task_apps"), str(BENCH)]
    import procrastinate_app  # type: ignore[import-not-found]

    procs = Procs(tmp)
    for _ in range(workers):
        procs.start("procrastinate", [sys.executable, "-m", "procrastinate",
                                      "--app=procrastinate_app.app", "worker",
                                      "--concurrency", "1"], e)  # fmt: skip
    counter = psycopg.connect(dsn, autocommit=True)

    def succeeded() -> int:
        row = counter.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()
        return int(row[0]) if row else 0

    try:
        time.sleep(2.0)  # it has no readiness call; workers LISTEN for new jobs
        procs.check()
        with procrastinate_app.app.open():

            def add(i: int) -> None:
                procrastinate_app.record.defer(n=i)

            yield (
                add,
                (lambda n: succeeded() >= n),
                (lambda n: succeeded()),
                [p.pid for p in procs.procs],
            )
    finally:
        procs.stop()
        counter.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def system(name: str, workers: int, tmp: Path, runs: Path) -> Any:
    if name.startswith("triggerfish-"):
        return run_triggerfish(name.split("-", 1)[1], workers, tmp, runs)
    if name == "huey":
        return run_huey(workers, tmp, runs)
    if name == "rq":
        return run_rq(workers, tmp, runs)
    if name.startswith("celery-"):
        return run_celery("redis" if name.endswith("redis") else "amqp", workers, tmp, runs)
    if name == "procrastinate":
        return run_procrastinate(workers, tmp, runs)
    raise SystemExit(f"unknown system {name!r} ({', '.join(SYSTEMS)})")


def one_run(name: str, n: int, workers: int, batch: int = 1) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-tasks-"))
    runs = tmp / "runs.txt"
    try:
        with system(name, workers, tmp, runs) as (add, done, verify, pids):
            cpu0 = cpu(pids)
            me0 = psutil.Process().cpu_times()
            began = time.perf_counter()
            if batch > 1:
                for k in range(0, n, batch):
                    add(list(range(k, min(n, k + batch))))
            else:
                for i in range(n):
                    add(i)
            added = time.perf_counter()
            wait_until(lambda: done(n), DONE_TIMEOUT, f"{name}: results", every=0.01)
            ended = time.perf_counter()
            me1 = psutil.Process().cpu_times()
            cpu1 = cpu(pids)
            stored = verify(n)
        dupes, missing = exactly_once(runs, n)
        return {
            "tasks_per_s": n / (ended - began),
            "adds_per_s": n / (added - began),
            "seconds": ended - began,
            "system_cpu_ms_per_task": 1000 * (cpu1 - cpu0) / n,
            "client_cpu_ms_per_task": 1000 * (me1.user + me1.system - me0.user - me0.system) / n,
            "stored": float(stored),
            "duplicated": float(dupes),
            "missing": float(missing),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def isolated_run(name: str, n: int, workers: int, batch: int = 1) -> dict[str, float]:
    """One run in a fresh Python process (each system imports and configures its client)."""
    out = subprocess.run([sys.executable, __file__, "--one", name, "--tasks", str(n),
                          "--workers", str(workers), "--batch", str(batch)],
                         capture_output=True, text=True, check=False, cwd=BENCH)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "?")
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--batch", type=int, default=1,
                    help="triggerfish only: add the tasks this many at a time with "
                         "tasks.add_many (not the way the peers are run)")  # fmt: skip
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: one run, JSON on stdout
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, args.tasks, int(args.workers), args.batch)))
        return
    if args.batch > 1 and any(not x.startswith("triggerfish-") for x in args.systems.split(",")):
        raise SystemExit("--batch: for the triggerfish systems only")
    code = code_state()
    say(f"machine: {machine()}")
    results: list[dict[str, Any]] = []
    names = args.systems.split(",")
    turns: list[str] = []
    for w in [int(x) for x in args.workers.split(",")]:
        # the systems take turns, round after round: a change of this machine's speed (it is
        # shared) falls on all of them, and each round compares them at one moment
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        failed: set[str] = set()
        for r in range(args.repeat):
            for name in names:
                if name in failed:
                    continue
                say(f"{name}, {w} worker(s), {args.tasks} tasks, run {r + 1}/{args.repeat} ...")
                try:
                    runs[name].append(isolated_run(name, args.tasks, w, args.batch))
                except Exception as exc:  # one system failing must not hide the others
                    say(f"  {name} failed: {exc!r}")
                    failed.add(name)
                    continue
                say("  " + json.dumps({k: round(v, 2) for k, v in runs[name][-1].items()}))
        for name, rows in runs.items():
            if rows:
                st = {k: Stat([r[k] for r in rows]) for k in rows[0]}
                label = name if args.batch <= 1 else f"{name} (add_many of {args.batch})"
                results.append({"system": label, "workers": w, **st})
        turns.extend(against_fastest(runs, w, failed))
    if args.json:
        print(json.dumps([{k: (v.as_dict() if isinstance(v, Stat) else v) for k, v in r.items()}
                          for r in results], indent=2))  # fmt: skip
        return
    header = ["system", "workers", "tasks/s (add → result stored)", "adds/s",
              "system CPU ms/task", "client CPU ms/task", "stored", "run twice",
              "lost"]  # fmt: skip
    rows_out = [
        [r["system"], str(r["workers"]), f"**{r['tasks_per_s'].fmt(0)}**", r["adds_per_s"].fmt(0),
         r["system_cpu_ms_per_task"].fmt(2), r["client_cpu_ms_per_task"].fmt(2),
         f"{r['stored'].median:.0f}", f"{r['duplicated'].median:.0f}",
         f"{r['missing'].median:.0f}"]
        for r in results
    ]  # fmt: skip
    print(table(header, rows_out))
    if turns:
        print()
        print("\n".join(turns))
    print(f"\n{args.tasks} tasks per run, {args.repeat} run(s); {code_line(code)}")


def against_fastest(runs: dict[str, list[dict[str, float]]], workers: int,
                    failed: set[str]) -> list[str]:  # fmt: skip
    """For each triggerfish system: its tasks/s over the fastest peer's, round by round (the
    systems ran one after the other in each round)."""
    peers = [n for n in runs if not n.startswith("triggerfish-") and n not in failed]
    out = []
    for name in (n for n in runs if n.startswith("triggerfish-") and n not in failed):
        ratios = []
        for r, mine in enumerate(runs[name]):
            best = max(((runs[p][r]["tasks_per_s"], p) for p in peers if r < len(runs[p])),
                       default=None)  # fmt: skip
            if best is not None:
                ratios.append(f"{mine['tasks_per_s'] / best[0]:.2f} of {best[1]}")
        if ratios:
            out.append(f"{name}, {workers} worker(s), against the fastest peer of each round: "
                       + ", ".join(ratios))  # fmt: skip
    return out


if __name__ == "__main__":
    _ = ROOT
    main()
