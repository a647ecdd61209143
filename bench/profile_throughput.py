"""Where the supervisor's CPU goes during the throughput run (SQLite by default).

    pip install py-spy
    python bench/profile_throughput.py [--frames 5000] [--workers 2] [--slots 1] [--chunk 1]
                                       [--store sqlite|postgresql] [--rate 400]
                                       [--out bench/profiles] [--svg] [--workers-too]
                                       [--native] [--no-count] [--no-spy]

Two runs of the throughput job (one cmdrange job of N frames of ``true``, ``cpus`` = WxS,
followed with ``Client.wait``), each on a fresh LocalFarm:

1. **counting**: the supervisor runs under bench/_counting_supervisor.py (the normal command
   plus an ASGI middleware, a SQLAlchemy listener and a gc callback): HTTP requests per frame
   by endpoint and by what the worker endpoints answered, engine batches (= write
   transactions) and commands, SQL statements, events and garbage collections per frame.
   No profiler attached.
2. **sampling**: ``py-spy record --gil --threads --nonblocking`` on the plain supervisor from
   submit to completion (and on the first worker with ``--workers-too``). Only samples holding
   the GIL are kept, i.e. the Python CPU time; non-blocking sampling leaves the speed almost
   unchanged. ``--native`` adds C frames (garbage collector, C extensions) but pauses the
   process at every sample, which slows it several times and shifts the shares.
   ``supervisor.txt`` holds the collapsed stacks (``--svg``: also a flame graph,
   ``supervisor.svg``, from a third run).

Printed: the counts, then the samples by thread, by activity (engine writes and commands,
reads, request handling layers), by component (the library a sample's innermost frame belongs
to; generic stdlib frames are charged to their caller), and the top functions by self and by
inclusive samples. Read the shares; ``throughput.py`` measures the real rates."""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from _common import code_line, code_state, database, say, table

from triggerfish.cli.local import LocalFarm, child_env

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------- the counting run


class CountingFarm(LocalFarm):
    """A LocalFarm whose supervisor runs bench/_counting_supervisor.py."""

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        if name != "supervisor":
            return super()._spawn(name, args, env)
        path = self.log_path(name)
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        out = path.open("ab")
        self._logs.append(out)
        return subprocess.Popen(
            [sys.executable, str(HERE / "_counting_supervisor.py"), *args],
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def job_dict(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "name": "bench-profile",
        "prototype": "cmdrange",
        "cpus": args.workers * args.slots,
        "package": {"cmdline": "true", "range": f"1-{args.frames}", "chunk": args.chunk},
    }


def counting_run(args: argparse.Namespace) -> str:
    with (
        database(args.store) as db_url,
        CountingFarm(args.workers, args.slots, db_url=db_url, log_level="warning") as farm,
        farm.client(timeout=120.0) as client,
    ):
        httpx.post(f"{farm.url}/bench/reset").raise_for_status()
        began = time.perf_counter()
        [j] = client.submit(job_dict(args))
        status = client.wait(j["id"], timeout=900.0)
        elapsed = time.perf_counter() - began
        counts = httpx.get(f"{farm.url}/bench/counts").json()
    say(f"[counting] {status}: {args.frames / elapsed:.0f} frames/s")
    n = args.frames
    rows = []
    total = 0
    for key, v in sorted(counts["requests"].items(), key=lambda kv: -kv[1]["count"]):
        total += v["count"]
        mean_ms = 1000 * v["seconds"] / v["count"]
        rows.append([f"`{key}`", str(v["count"]), f"{v['count'] / n:.2f}", f"{mean_ms:.1f}"])
    rows.append(["all", str(total), f"{total / n:.2f}", ""])
    answers = [[f"`{k}`", str(v), f"{v / n:.2f}"] for k, v in sorted(counts["answers"].items())]
    eng = counts["engine"]
    per = [
        ["engine batches (write transactions)", str(eng["batches"]), f"{eng['batches'] / n:.2f}"],
        ["engine commands", str(eng["commands"]), f"{eng['commands'] / n:.2f}"],
        ["SQL statements through SQLAlchemy", str(counts["sql"]), f"{counts['sql'] / n:.2f}"],
        ["SQL statements sent by the driver", str(counts["sent"]), f"{counts['sent'] / n:.2f}"],
        ["events in the log (whole run)", str(eng["event_seq"]), f"{eng['event_seq'] / n:.2f}"],
    ]
    commits = sorted(counts["commit_s"])
    if commits:
        pick = [commits[min(len(commits) - 1, int(q * len(commits)))] for q in (0.5, 0.9, 0.99)]
        per.append(
            [
                "Store.flush wall ms (write + commit): median / p90 / p99 / max",
                " / ".join(f"{1000 * x:.1f}" for x in (*pick, commits[-1])),
                "",
            ]
        )
        cpu = counts["commit_cpu"]
        per.append(
            [
                "Store.flush CPU ms of the engine thread (in all, per commit)",
                f"{1000 * cpu:.0f} ({1000 * cpu / len(commits):.2f})",
                f"{1000 * cpu / n:.3f}",
            ]
        )
    for kind, rows_ in sorted(counts["flush"].items()):
        per.append([f"rows written: {kind}", str(rows_), f"{rows_ / n:.2f}"])
    for gen, v in counts["gc"].items():
        per.append(
            [
                f"garbage collections {gen} (ms in total)",
                f"{v['count']} ({1000 * v['seconds']:.0f} ms)",
                f"{v['count'] / n:.3f} ({1000 * v['seconds'] / n:.3f} ms)",
            ]
        )
    return (
        f"## Requests during the run ({n} frames, {elapsed:.1f} s)\n\n"
        + table(["endpoint", "requests", "per frame", "mean wall ms"], rows)
        + "\n\nWorker answers by content:\n\n"
        + table(["answer", "count", "per frame"], answers)
        + "\n\n"
        + table(["", "count", "per frame"], per)
    )


# ---------------------------------------------------------------- the sampling run

GENERIC = re.compile(
    r"\((contextlib|typing|inspect|enum|functools|dataclasses|copy|re/|re\.py|abc|"
    r"<frozen [^>]*>|collections/|weakref|_weakrefset|types|operator|warnings|"
    r"encodings/)"
    r"|libpython|\.[ch]:\d+\)|\(libc[.-]|\(ld-linux"  # native frames (--native): the caller pays
)
COMPONENTS: list[tuple[str, re.Pattern[str]]] = [
    (
        "cyclic garbage collector",
        re.compile(r"gc_collect|collect_with_callback|collect_generations"),
    ),
    (
        "thread hand-offs (queue.put, futures, call_soon_threadsafe)",
        re.compile(
            r"^Engine\.call |^Engine\.acall |concurrent/futures|queue\.py|threading\.py|anyio/|"
            r"asyncio/futures\.py|_write_to_self|_read_from_self|call_soon_threadsafe|"
            r"asyncio/threads\.py"
        ),
    ),
    ("HTTP server (uvicorn, h11)", re.compile(r"uvicorn/|h11/|httptools")),
    ("FastAPI/Starlette (routing, params, responses)", re.compile(r"fastapi/|starlette/")),
    ("pydantic", re.compile(r"pydantic")),
    ("json", re.compile(r"\(json/|orjson|_json\.c")),
    ("SQLAlchemy", re.compile(r"sqlalchemy/")),
    ("DB driver (sqlite3, psycopg)", re.compile(r"sqlite3|psycopg|libpq")),
    ("asyncio loop, sockets", re.compile(r"asyncio/|selectors\.py|socket\.py")),
    ("triggerfish engine", re.compile(r"triggerfish/engine/")),
    ("triggerfish store", re.compile(r"triggerfish/store/")),
    ("triggerfish server/api/model", re.compile(r"triggerfish/(server|api|model)/")),
    ("logging", re.compile(r"logging/")),
    ("secrets/random", re.compile(r"secrets\.py|random\.py")),
]


def component(frames: list[str]) -> str:
    """The component a sample is charged to: its innermost non-generic frame's library."""
    for frame in reversed(frames):
        for name, pattern in COMPONENTS:
            if pattern.search(frame):
                return name
        if not GENERIC.search(frame):
            return "other: " + _short(frame)
    return "other"


def activity(role: str, frames: list[str]) -> str:
    """What a sample was doing, by thread: the engine's SQL writes and commands, the API's
    reads, and on the event loop the request handling layers (by innermost component)."""
    stack = ";".join(frames)
    if role == "engine thread":
        if "Store.flush (" in stack:
            return "engine thread: SQL write of a batch (Store.flush)"
        if re.search(r"triggerfish/engine/(workers|dispatch|submit|control)\.py", stack):
            return "engine thread: commands (pull/report/dispatch logic)"
        if "triggerfish/engine/state.py" in stack:
            return "engine thread: change tracking (state.py)"
        return "engine thread: loop, futures, wake-ups"
    if role.startswith("to_thread"):
        if "list_events (triggerfish/store/reads.py" in stack:
            return "read thread: SELECT events (for GET /events)"
        if "triggerfish/store/reads.py" in stack:
            return "read thread: other reads"
        return "read thread: pool overhead"
    comp = component(frames)
    if "events (triggerfish/server/routes_jobs.py" in stack and comp not in (
        "HTTP server (uvicorn, h11)",
        "FastAPI/Starlette (routing, params, responses)",
    ):
        return "event loop: GET /events handler (convert, serialize, wait)"
    if comp.startswith("thread hand-offs"):
        return "event loop: hand-offs to the engine / read threads"
    if comp.startswith(("HTTP server", "FastAPI", "pydantic", "json", "asyncio")):
        return f"event loop: {comp}"
    return "event loop: other"


def thread_role(name: str) -> str:
    if name.startswith("MainThread"):
        return "event loop (MainThread)"
    if name.startswith("triggerfish-engine"):
        return "engine thread"
    if name.startswith(("asyncio_", "uvloop_", "AnyIO")):
        return "to_thread pool (DB reads)"
    return name


def _short(frame: str) -> str:
    """``func (site-packages/pkg/mod.py:12)`` → ``func (pkg/mod.py)``."""
    m = re.match(r"^(.*) \((.*?)(:\d+)?\)$", frame)
    if not m:
        return frame
    func, file, _ = m.groups()
    file = re.sub(r"^.*(site-packages|lib/python3\.\d+)/", "", file)
    file = re.sub(r"^.*/src/", "", file)
    return f"{func} ({file})"


def load(path: Path) -> list[tuple[str, list[str], int]]:
    """Collapsed stacks ``thread (tid): name;frame;...;frame count``, outermost first."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = ""
        if frames and frames[0].startswith("thread ("):
            thread = frames.pop(0).split(": ", 1)[-1]
        if frames and frames[0].startswith("process "):
            frames.pop(0)
        out.append((thread, frames, int(count)))
    return out


def summarize(path: Path, rate: int, top: int = 25) -> str:
    stacks = load(path)
    total = sum(c for _, _, c in stacks) or 1
    by_thread: collections.Counter[str] = collections.Counter()
    act: collections.Counter[str] = collections.Counter()
    comp: collections.Counter[str] = collections.Counter()
    self_t: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    for thread, frames, count in stacks:
        if not frames:
            continue
        by_thread[thread_role(thread)] += count
        act[activity(thread_role(thread), frames)] += count
        comp[component(frames)] += count
        self_t[_short(frames[-1])] += count
        for f in {_short(f) for f in frames}:
            incl[f] += count

    def block(title: str, counter: collections.Counter[str], n: int) -> str:
        rows = [[f"{100 * v / total:.1f}%", str(v), f"`{k}`"] for k, v in counter.most_common(n)]
        return f"\n\n### {title}\n\n" + table(["share", "samples", "what"], rows)

    head = f"## {path.name}: {total} samples holding the GIL ({total / rate:.1f} s at {rate} Hz)"
    return (
        head
        + block("By thread", by_thread, 10)
        + block("By activity", act, 25)
        + block("By component (innermost non-generic frame)", comp, 20)
        + block("Top functions, self", self_t, top)
        + block("Top functions, inclusive", incl, top + 25)
    )


def record(pid: int, out: Path, rate: int, fmt: str, native: bool) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy")
    if exe is None:
        sys.exit("py-spy is not installed: pip install py-spy")
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", fmt]
    cmd += ["--output", str(out), "--gil", "--threads"]
    # --native unwinds C frames (shows the garbage collector, sem_post...) but must pause the
    # process for each sample, which slows it several times; without it, don't pause at all.
    cmd += ["--native"] if native else ["--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if proc.returncode not in (0, -signal.SIGINT, 130):
        say(err.decode(errors="replace")[-2000:])


def sampling_run(args: argparse.Namespace, fmt: str) -> None:
    ext = "txt" if fmt == "raw" else "svg"
    with (
        database(args.store) as db_url,
        LocalFarm(args.workers, args.slots, db_url=db_url, log_level="warning") as farm,
    ):
        assert farm.supervisor is not None
        spies = [
            record(farm.supervisor.pid, args.out / f"supervisor.{ext}", args.rate, fmt, args.native)
        ]
        if args.workers_too:
            spies.append(
                record(farm.workers[0].pid, args.out / f"worker.{ext}", args.rate, fmt, args.native)
            )
        time.sleep(1.0)  # py-spy attaches
        sup = psutil.Process(farm.supervisor.pid)
        cpu0 = sum(sup.cpu_times()[:2])
        with farm.client(timeout=120.0) as client:
            began = time.perf_counter()
            [j] = client.submit(job_dict(args))
            status = client.wait(j["id"], timeout=900.0)
            elapsed = time.perf_counter() - began
        cpu1 = sum(sup.cpu_times()[:2])
        for spy in spies:
            stop(spy)
    say(
        f"[py-spy {fmt}] {status}: {args.frames / elapsed:.0f} frames/s under py-spy, "
        f"supervisor {(cpu1 - cpu0) * 1000 / args.frames:.3f} s CPU/1k frames"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slots", type=int, default=1)
    p.add_argument("--chunk", type=int, default=1)
    p.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--rate", type=int, default=400, help="py-spy samples per second")
    p.add_argument("--out", type=Path, default=HERE / "profiles")
    p.add_argument("--svg", action="store_true", help="also record a flame graph (third run)")
    p.add_argument("--workers-too", action="store_true", help="also profile the first worker")
    p.add_argument("--no-count", action="store_true", help="skip the counting run")
    p.add_argument("--no-spy", action="store_true", help="only the counting run (no py-spy)")
    p.add_argument(
        "--native",
        action="store_true",
        help="native frames too (py-spy --native: the garbage collector, C extensions); "
        "pauses the supervisor at each sample, so the shares shift towards waiting",
    )
    args = p.parse_args(argv)
    code = code_state()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_count:
        print(counting_run(args))
        print()
    if args.no_spy:
        print(code_line(code))
        return 0
    sampling_run(args, "raw")
    if args.svg:
        sampling_run(args, "flamegraph")
    print(summarize(args.out / "supervisor.txt", args.rate))
    if args.workers_too:
        print()
        print(summarize(args.out / "worker.txt", args.rate))
    print()
    print(code_line(code))
    return 0


if __name__ == "__main__":
    sys.exit(main())
