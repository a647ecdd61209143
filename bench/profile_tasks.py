"""Where the CPU of one trivial task goes, per process (client, supervisor, worker, task process).

    python bench/profile_tasks.py [--tasks 1000] [--workers 1] [--store sqlite|postgresql]
                                  [--out bench/profiles] [--rate 400] [--no-spy] [--no-count]

Runs the same work as ``tasks_throughput.py`` (one client adding N trivial tasks one by one,
then waiting until every result is stored) on a LocalFarm:

1. **counting** (unless ``--no-count``): the supervisor runs under bench/_counting_supervisor.py;
   HTTP requests, engine batches, commits (batches that wrote) and commands, SQL statements and
   events per task.
2. **CPU per process**: user+system CPU of the client (this process), the supervisor, each
   worker and each worker's task processes, per task. No profiler attached.
3. **sampling** (unless ``--no-spy``): ``py-spy record --gil --nonblocking`` on the supervisor,
   the first worker and its task process; the client is sampled by cProfile-free wall clock
   (``py-spy`` on this very process is not possible), so it is run in a child process here.
   The collapsed stacks go to ``OUT/tasks-<role>.txt``; the top functions are printed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from _common import code_line, code_state, database, say, table
from profile_throughput import CountingFarm, _short, load

from triggerfish.cli.local import LocalFarm, child_env

HERE = Path(__file__).resolve().parent
CLIENT = """
import sys, time
from triggerfish.client.client import Client
from triggerfish.tasks import Tasks
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.stdin.readline()  # go
with Client(url, token=token) as c, Tasks(c) as api:
    for i in range(n):
        api.add("tf_app:record", i)
print("added", flush=True)
"""


def farm_env(runs: Path) -> None:
    os.environ["BENCH_TASKS_FILE"] = str(runs)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE / "task_apps"), str(HERE), child_env()["PYTHONPATH"]]
    )


def cpu_of(proc: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        t = proc.cpu_times()
        return float(t.user + t.system)
    return 0.0


def tree(farm: LocalFarm) -> dict[str, list[psutil.Process]]:
    assert farm.supervisor is not None
    sup = psutil.Process(farm.supervisor.pid)
    out: dict[str, list[psutil.Process]] = {"supervisor": [sup]}
    out["supervisor children"] = sup.children(recursive=True)
    out["worker"] = [psutil.Process(w.pid) for w in farm.workers]
    out["task processes"] = [c for w in out["worker"] for c in w.children(recursive=True)]
    return out


def wait_done(client: object, n: int) -> None:
    while client.jobs(status="active", limit=1):  # type: ignore[attr-defined]
        time.sleep(0.01)


def spy(pid: int, out: Path, rate: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or sys.exit("py-spy is not installed")
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
           "--output", str(out), "--gil", "--nonblocking", "--threads"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_spy(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def run(args: argparse.Namespace, *, spying: bool) -> str:
    runs = args.out / "runs.txt"
    runs.unlink(missing_ok=True)
    farm_env(runs)
    cls = CountingFarm if args.count and not spying else LocalFarm
    with (
        database(args.store) as db,
        cls(args.workers, 1, db_url=db, log_level="warning") as farm,
        farm.client(timeout=120.0) as client,
    ):
        assert farm.supervisor is not None
        # a warm-up task: the worker starts its task process
        from triggerfish.tasks import Tasks

        Tasks(client).result(Tasks(client).add("tf_app:record", -1), timeout=60)
        adder = subprocess.Popen(
            [sys.executable, "-c", CLIENT, farm.url, farm.token or "", str(args.tasks)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ), cwd=HERE,
        )  # fmt: skip
        time.sleep(1.5)  # imports
        procs = tree(farm)
        procs["client"] = [psutil.Process(adder.pid)]
        spies = []
        if spying:
            spies.append(spy(farm.supervisor.pid, args.out / "tasks-supervisor.txt", args.rate))
            spies.append(spy(farm.workers[0].pid, args.out / "tasks-worker.txt", args.rate))
            if procs["task processes"]:
                spies.append(spy(procs["task processes"][0].pid,
                                 args.out / "tasks-taskprocess.txt", args.rate))  # fmt: skip
            spies.append(spy(adder.pid, args.out / "tasks-client.txt", args.rate))
            time.sleep(1.0)
        if args.count and not spying:
            httpx.post(f"{farm.url}/bench/reset").raise_for_status()
        cpu0 = {k: sum(cpu_of(p) for p in v) for k, v in procs.items()}
        began = time.perf_counter()
        assert adder.stdin is not None and adder.stdout is not None
        adder.stdin.write(b"go\n")
        adder.stdin.flush()
        adder.stdout.readline()
        cpu_client = cpu_of(procs["client"][0])
        wait_done(client, args.tasks)
        elapsed = time.perf_counter() - began
        cpu1 = {k: sum(cpu_of(p) for p in v) for k, v in procs.items()}
        cpu1["client"] = cpu_client
        for s in spies:
            stop_spy(s)
        adder.wait(10)
        counts = httpx.get(f"{farm.url}/bench/counts").json() if args.count and not spying else None
    n = args.tasks
    rows = [[k, f"{1000 * (cpu1[k] - cpu0[k]) / n:.2f}"] for k in procs]
    system = sum(cpu1[k] - cpu0[k] for k in procs if k != "client")
    rows.append(["system (all but the client)", f"{1000 * system / n:.2f}"])
    text = (
        f"{'[py-spy] ' if spying else ''}{n} tasks in {elapsed:.1f} s: {n / elapsed:.0f} "
        f"tasks/s\n\n" + table(["process", "CPU ms/task"], rows)
    )
    if counts is not None:
        per = [[f"`{k}`", f"{v['count'] / n:.2f}"] for k, v in counts["requests"].items()]
        eng = counts["engine"]
        per += [
            ["engine batches", f"{eng['batches'] / n:.2f}"],
            ["engine commits", f"{eng.get('commits', 0) / n:.2f}"],
            ["engine commands", f"{eng['commands'] / n:.2f}"],
            ["SQL statements", f"{counts['sql'] / n:.2f}"],
            ["events (whole run)", f"{eng['event_seq'] / n:.2f}"],
        ]
        text += "\n\n" + table(["per task", "count"], per)
    return text


def top(path: Path, rate: int, k: int = 30) -> str:
    if not path.exists():
        return f"{path.name}: missing"
    stacks = load(path)
    total = sum(c for _, _, c in stacks) or 1
    self_t: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    for _, frames, count in stacks:
        if not frames:
            continue
        self_t[_short(frames[-1])] += count
        for f in {_short(f) for f in frames}:
            incl[f] += count

    def block(title: str, c: collections.Counter[str]) -> str:
        rows = [[f"{100 * v / total:.1f}%", f"`{name}`"] for name, v in c.most_common(k)]
        return f"\n\n#### {title}\n\n" + table(["share", "function"], rows)

    return (f"### {path.name}: {total} samples ({total / rate:.1f} s CPU)"
            + block("self", self_t) + block("inclusive", incl))  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--rate", type=int, default=400)
    p.add_argument("--out", type=Path, default=HERE / "profiles")
    p.add_argument("--no-spy", dest="spy", action="store_false")
    p.add_argument("--no-count", dest="count", action="store_false")
    p.add_argument("--top", type=int, default=30)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    code = code_state()
    print(run(args, spying=False))
    if args.spy:
        print()
        print(run(args, spying=True))
        for role in ("client", "supervisor", "worker", "taskprocess"):
            print()
            print(top(args.out / f"tasks-{role}.txt", args.rate, args.top))
    print()
    print(code_line(code))
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
