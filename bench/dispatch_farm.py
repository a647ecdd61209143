"""Issue 17: dispatch decision time and supervisor CPU per item on a simulated farm.

One process: the real engine (``Engine``, its own thread) and store (SQLite file in a fresh
temporary dir, or a fresh PostgreSQL schema), and fake hosts that speak the worker protocol
through the engine's own functions (``engine.workers.register`` / ``pull`` / ``report``, queued
with ``Engine.call`` as the HTTP server would, so that the calls of one round are applied and
committed in batches). Nothing runs: a host reports every item it was given as complete at
the next round.

The farm: ``--hosts`` hosts x ``--slots`` slots (20 % with ``gpu=a100``; ``site`` lon or ny;
half with 64 GiB, half with 128 GiB), two global resources (``maya=200``, ``nuke=100``), and
``--jobs`` pending jobs of ``--frames`` items each, a few priorities. Two variants of the same
farm and jobs, one after the other in each repeat:

* ``baseline``: the jobs without ``requirements`` and ``reservations`` (today's dispatch);
* ``requirements``: 70 % of the jobs with ``requirements`` (``host.gpu=a100``,
  ``host.memory.avail>=100000``, ``host.site=lon``, ``host.site=ny && host.memory.avail>=32000``)
  and 60 % with ``reservations`` (``host.processors=2``, ``host.processors=4,host.memory=16000``,
  ``global.maya=1``, ``global.nuke=1``, ``host.processors=2,global.maya=1,global.nuke=1``).

The dispatch phase starts with every host pulling (its slots empty, every job pending) and
goes on until every item is complete: a host reports what it was given as soon as it gets it,
and one that holds nothing pulls. With ``--idle longpoll`` (the default, what workers do) that
pull is a long poll, parked by the engine (``parking.pull_or_park``) until a batch makes work
for the host; with ``--idle lockstep`` the hosts go round after round, and a host that holds
nothing pulls again every round, answered at once (a farm of workers polling without a wait:
dispatch is asked again for every idle host at every round). Measured in that phase:

* **decision time**: the wall time of each call of ``engine.dispatch.dispatch`` (fill a host's
  free slots: on a pull, and on a report for the slots it frees) and of
  ``engine.dispatch.start_next`` (an instance's next item on its slot, on a report), per
  call, whatever it gave (also the calls that found nothing);
* **CPU per dispatched item**: the engine thread's CPU time (``time.thread_time`` read in that
  thread: the supervisor's own work, dispatch, the worker protocol's engine side and the
  store's commits) over the phase / items dispatched, the figure the goal is about; also the
  process CPU time (user+system), which adds the fake hosts' side of each call (building
  their requests, reading the answers: the workers' work, not the supervisor's).

Not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import UTC, datetime
from typing import Any

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))

from _common import (
    code_line,
    code_state,
    database,
    machine,
    say,
    stats,
    stores,
    table,
)

from triggerfish.api import schemas as s
from triggerfish.engine import dispatch as dispatch_mod
from triggerfish.engine import parking
from triggerfish.engine import resources as res
from triggerfish.engine import submit as engine_submit
from triggerfish.engine import workers as wk
from triggerfish.engine.loop import Engine
from triggerfish.model.jobspec import parse_jobs
from triggerfish.server.gcpolicy import GcPolicy
from triggerfish.store.store import Store

GIB = 1 << 30
RESOURCES = {"maya": 200, "nuke": 100}
REQUIREMENTS = [  # (share of jobs, text)
    (0.20, "host.gpu=a100"),
    (0.20, "host.memory.avail>=100000"),
    (0.20, "host.site=lon"),
    (0.10, "host.site=ny && host.memory.avail>=32000"),
    (0.30, ""),
]
RESERVATIONS = [
    (0.20, "host.processors=2"),
    (0.10, "host.processors=4,host.memory=16000"),
    (0.15, "global.maya=1"),
    (0.10, "global.nuke=1"),
    (0.05, "host.processors=2,global.maya=1,global.nuke=1"),
    (0.40, ""),
]
PRIORITIES = [100, 500, 1000, 1000, 1000, 5000]
SUBMIT_CHUNK = 500
VARIANTS = ("baseline", "requirements")
IDLE = ("longpoll", "lockstep")
LONGPOLL = 60.0  # seconds a pull with nothing to hand out may wait (PullRequest.wait max)


def pick(rnd: random.Random, table_: list[tuple[float, str]]) -> str:
    x, acc = rnd.random(), 0.0
    for share, text in table_:
        acc += share
        if x < acc:
            return text
    return table_[-1][1]


def job_specs(n: int, frames: int, variant: str, seed: int = 17) -> list[dict[str, Any]]:
    """The same jobs (same priorities) for both variants; ``baseline`` drops the fields."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        req, rsv = pick(rnd, REQUIREMENTS), pick(rnd, RESERVATIONS)
        spec: dict[str, Any] = {
            "name": f"j{i}",
            "priority": rnd.choice(PRIORITIES),
            "package": {"cmdline": "true", "range": f"1-{frames}"},
        }
        if variant == "requirements":
            if req:
                spec["requirements"] = req
            if rsv:
                spec["reservations"] = rsv
        out.append(spec)
    return out


def host_request(i: int, slots: int) -> s.RegisterRequest:
    big = i % 2 == 0
    props: dict[str, Any] = {
        "os": "linux",
        "memory": (128 if big else 64) * GIB,
        "site": "lon" if i % 3 else "ny",
    }
    if i % 5 == 0:
        props["gpu"] = "a100"
    avail = (120_000 if big else 60_000) << 20
    return s.RegisterRequest(name=f"h{i:04d}", slots=slots, properties=props, memory_avail=avail)


class Timed:
    """``engine.workers``' references to ``dispatch`` and ``start_next``, wrapped to time each
    call (in the engine thread) and count what they gave."""

    def __init__(self) -> None:
        self.calls: list[float] = []  # seconds, per call of either
        self.dispatch_calls: list[float] = []
        self.items = 0
        self.on = False
        self._orig: tuple[Callable[..., Any], Callable[..., Any]] | None = None

    def install(self) -> None:
        d0, n0 = wk.dispatch, wk.start_next
        self._orig = (d0, n0)
        clock = time.perf_counter

        def dispatch(state: Any, host: Any) -> Any:
            if not self.on:
                return d0(state, host)
            t = clock()
            out = d0(state, host)
            dt = clock() - t
            self.calls.append(dt)
            self.dispatch_calls.append(dt)
            self.items += len(out)
            return out

        def start_next(state: Any, host: Any, job: Any, sub: Any) -> Any:
            if not self.on:
                return n0(state, host, job, sub)
            t = clock()
            out = n0(state, host, job, sub)
            self.calls.append(clock() - t)
            self.items += out is not None
            return out

        wk.dispatch, wk.start_next = dispatch, start_next  # type: ignore[assignment]

    def remove(self) -> None:
        assert self._orig is not None
        wk.dispatch, wk.start_next = self._orig  # type: ignore[assignment]


def percentile(values: list[float], p: float) -> float:
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def gather(futs: list[Future[Any]], timeout: float = 600.0) -> list[Any]:
    return [f.result(timeout) for f in futs]


def one_run(
    store: str,
    variant: str,
    hosts: int,
    slots: int,
    jobs: int,
    frames: int,
    timed: Timed,
    idle_mode: str = "longpoll",
) -> dict[str, float]:
    with database(store) as url, tempfile.TemporaryDirectory() as tmp:
        st = Store(url or f"sqlite:///{tmp}/bench.db")
        eng = Engine(st)
        eng.start()
        gc_policy = GcPolicy()  # (as the supervisor runs its engine: server.gcpolicy)
        gc_policy.start()
        try:
            return _drive(eng, variant, hosts, slots, jobs, frames, timed, idle_mode)
        finally:
            gc_policy.stop()
            gc.unfreeze()
            eng.stop()
            st.close()


def _drive(
    eng: Engine,
    variant: str,
    hosts: int,
    slots: int,
    jobs: int,
    frames: int,
    timed: Timed,
    idle_mode: str,
) -> dict[str, float]:
    for name, total in RESOURCES.items():
        eng.run_sync(res.set_total, name, total, "bench")
    regs = gather([eng.call(wk.register, host_request(i, slots)) for i in range(hosts)])
    sessions = {r.host: r.session for r in regs}
    specs = job_specs(jobs, frames, variant)
    for i in range(0, len(specs), SUBMIT_CHUNK):
        eng.run_sync(engine_submit.submit, parse_jobs(specs[i : i + SUBMIT_CHUNK]), "bench",
                     timeout=300)  # fmt: skip
    total_items = jobs * frames
    held: dict[str, list[str]] = {h: [] for h in sessions}
    timed.calls.clear()
    timed.dispatch_calls.clear()
    timed.items = 0
    batches0, commits0 = eng.batches, eng.commits
    thread0 = eng.run_sync(lambda _st: time.thread_time())
    cpu0, wall0 = time.process_time(), time.perf_counter()
    timed.on = True
    if idle_mode == "lockstep":
        done, rounds = _lockstep(eng, sessions, held, total_items)
    else:
        done, rounds = _longpoll(eng, sessions, held, total_items)
    timed.on = False
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    thread = eng.run_sync(lambda _st: time.thread_time()) - thread0
    items = max(1, timed.items)
    calls_ms = [x * 1000 for x in timed.calls]
    disp_ms = [x * 1000 for x in timed.dispatch_calls]
    return {
        "items": float(timed.items), "done": float(done), "rounds": float(rounds),
        "calls": float(len(calls_ms)), "p50_ms": percentile(calls_ms, 50),
        "p99_ms": percentile(calls_ms, 99), "max_ms": max(calls_ms, default=0.0),
        "dispatch_p50_ms": percentile(disp_ms, 50), "dispatch_p99_ms": percentile(disp_ms, 99),
        "decide_s": sum(timed.calls), "dispatch_s": sum(timed.dispatch_calls),
        "cpu_ms_item": cpu * 1000 / items,
        "thread_ms_item": thread * 1000 / items, "wall_s": wall,
        "batches": float(eng.batches - batches0), "commits": float(eng.commits - commits0),
    }  # fmt: skip


def _lockstep(
    eng: Engine, sessions: dict[str, str], held: dict[str, list[str]], total_items: int
) -> tuple[int, int]:
    """Round after round, every host calls: a report of what it holds, or a pull that answers
    at once (``wait=0``), also when it got nothing the round before."""
    done = rounds = idle = 0
    while done < total_items:
        rounds += 1
        futs: list[tuple[str, Future[Any]]] = []
        for h, session in sessions.items():
            if held[h]:
                reps = [s.Report(token=t, status="complete", exit_code=0) for t in held[h]]
                done += len(reps)
                req: Any = s.ReportRequest(session=session, reports=reps)
                futs.append((h, eng.call(wk.report, h, req)))
            else:
                futs.append((h, eng.call(wk.pull, h, s.PullRequest(session=session, wait=0))))
        given = 0
        for h, fut in futs:
            resp = fut.result(600)
            held[h] = [a.token for a in resp.assignments]
            given += len(held[h])
        if given == 0 and done < total_items:
            idle += 1
            if idle > 3:
                say(f"  stuck: {done} of {total_items} items done after {rounds} rounds")
                break
        else:
            idle = 0
    return done, rounds


def _longpoll(
    eng: Engine, sessions: dict[str, str], held: dict[str, list[str]], total_items: int
) -> tuple[int, int]:
    """As workers do: a host that holds work reports it at once; one that holds none pulls
    with a long poll (``parking.pull_or_park``, as the HTTP route), which the engine parks
    until a batch makes work for it. Each host calls again as soon as its answer comes."""
    out: dict[Future[Any], str] = {}
    done = calls = 0

    def send(h: str) -> None:
        nonlocal done
        if held[h]:
            reps = [s.Report(token=t, status="complete", exit_code=0) for t in held[h]]
            done += len(reps)
            out[eng.call(wk.report, h, s.ReportRequest(session=sessions[h], reports=reps))] = h
            return
        answer: Future[Any] = Future()
        req = s.PullRequest(session=sessions[h], wait=LONGPOLL)
        first = eng.call(parking.pull_or_park, h, req, time.time(), answer)
        first.add_done_callback(lambda f: _chain(f, answer))
        out[answer] = h

    for h in sessions:
        send(h)
    while done < total_items:
        ready, _ = wait(list(out), timeout=LONGPOLL / 2, return_when=FIRST_COMPLETED)
        if not ready:
            say(f"  stuck: {done} of {total_items} items done after {calls} calls")
            break
        for fut in ready:
            h = out.pop(fut)
            held[h] = [a.token for a in fut.result().assignments]
            calls += 1
            send(h)
    eng.run_sync(parking.release_all)
    return done, calls


def _chain(first: Future[Any], answer: Future[Any]) -> None:
    """The pull's own answer into ``answer``, unless it was parked (None): then the batch
    that serves it answers ``answer`` itself."""
    exc = first.exception()
    if exc is not None:
        answer.set_exception(exc)
    elif first.result() is not None:
        answer.set_result(first.result())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=2, help="items per job")
    ap.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=VARIANTS, help="run one variant only")
    ap.add_argument(
        "--idle",
        choices=IDLE,
        default="longpoll",
        help="how a host that holds no work calls: a long poll, parked until work "
        "comes (as workers do), or a pull answered at once, every round",
    )
    ap.add_argument("--profile", metavar="FILE", help="cProfile the engine thread to FILE")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    code = code_state()
    started = datetime.now(UTC)
    prof = _profiler(args.profile)  # (first: the timing wraps it)
    timed = Timed()
    timed.install()
    variants = [args.only] if args.only else list(VARIANTS)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for store in stores(args.store):
        for r in range(args.repeat):
            for variant in variants:  # (taking turns: a load change hits both)
                say(f"{store} {variant} run {r + 1}/{args.repeat} ...")
                row = one_run(store, variant, args.hosts, args.slots, args.jobs, args.frames,
                              timed, args.idle)  # fmt: skip
                say("  " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()))
                results.setdefault((store, variant), []).append(row)
    timed.remove()
    if prof is not None:
        prof()
    _print(args, code, started, results)


def _profiler(path: str | None) -> Callable[[], None] | None:
    """cProfile every call of the engine's dispatch functions (the engine thread's hot path),
    written to ``path`` at the end (``python -m pstats``)."""
    if not path:
        return None
    import cProfile

    prof = cProfile.Profile()
    d0, n0 = dispatch_mod.dispatch, dispatch_mod.start_next

    def dispatch(state: Any, host: Any) -> Any:
        return prof.runcall(d0, state, host)

    def start_next(state: Any, host: Any, job: Any, sub: Any) -> Any:
        return prof.runcall(n0, state, host, job, sub)

    wk.dispatch, wk.start_next = dispatch, start_next  # type: ignore[assignment]

    def done() -> None:
        prof.dump_stats(path)
        say(f"profile written to {path}")

    return done


def _print(
    args: argparse.Namespace,
    code: dict[str, str],
    started: datetime,
    results: dict[tuple[str, str], list[dict[str, float]]],
) -> None:
    st = {k: stats(v) for k, v in results.items()}
    if args.json:
        print(json.dumps({
            "machine": machine(), "code": code, "started": started.isoformat(),
            "params": vars(args),
            "runs": {f"{k[0]}/{k[1]}": {m: x.as_dict() for m, x in v.items()}
                     for k, v in st.items()},
        }, indent=1))  # fmt: skip
        return
    m = machine()
    print(f"machine: {m['nproc']} cpu, {m['memory']}, {m['cpu']}, Python {m['python']}")
    print(f"date: {started:%Y-%m-%d %H:%M} UTC; command: {' '.join(sys.argv)}")
    print(
        f"farm: {args.hosts} hosts x {args.slots} slots, {args.jobs} jobs x {args.frames} "
        f"items, resources {RESOURCES}; idle hosts: {args.idle}; median (min-max) of "
        f"{args.repeat}"
    )
    rows = []
    for (store, variant), v in st.items():
        base = st.get((store, "baseline"))
        rows.append([
            store, variant, f"{v['items'].median:.0f}", f"{v['calls'].median:.0f}",
            v["p50_ms"].fmt(3), v["p99_ms"].fmt(3), v["dispatch_p99_ms"].fmt(3),
            v["max_ms"].fmt(1), v["thread_ms_item"].fmt(3),
            _ratio(v, base, "thread_ms_item"), v["cpu_ms_item"].fmt(3),
            _ratio(v, base, "cpu_ms_item"), v["wall_s"].fmt(1),
        ])  # fmt: skip
    print(table(
        ["store", "jobs", "items", "calls", "decision p50 ms", "decision p99 ms (goal ≤ 5)",
         "dispatch() p99 ms", "max ms", "engine thread CPU ms / item",
         "÷ baseline (goal ≤ 1.5)", "process CPU ms / item", "÷ baseline", "phase s"],
        rows,
    ))  # fmt: skip
    print(code_line(code))


def _ratio(v: dict[str, Any], base: dict[str, Any] | None, key: str) -> str:
    """``v``'s median of ``key`` over the baseline's ("-" for the baseline itself)."""
    if base is None or v is base:
        return "-"
    return f"{v[key].median / base[key].median:.2f}"


if __name__ == "__main__":
    main()
