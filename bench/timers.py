"""Lateness of time triggers with 10,000 timers pending (issue 5).

    python bench/timers.py [--pending 10000] [--measured 300] [--spread 10] [--store both]
                           [--repeat 3] [--json]

A fresh LocalFarm (supervisor, no workers) per run. First ``--pending`` time callbacks due in
a day or more are registered (jobs of 1,000 qube callbacks ``dummy-time-self-T`` →
``block-self``, each T distinct, so ``--pending`` distinct durable timers), then one job with
``--measured`` callbacks whose T are spread at random (microsecond ISO-8601 times) over
``--spread`` seconds starting 3 s later. Each firing emits the ``dummy`` time event, latches
the callback, runs its qube action (a recorded skip: the job is blocked already) and commits.

The client long-polls ``GET /events?type=time`` and notes the moment each time event reaches
it. Latenesses per timer, from its due time (``data.due``):

- **fired**: the engine's clock when the batch that fired it started (the event's ``time``);
- **visible**: when the event, committed, reached the client over HTTP (an upper bound of the
  commit time: it adds the long poll's wake-up, a read of the event log and one HTTP answer);
- **committed** (second part, ``--via engine``): the same load on an engine in this process
  (real store, real engine thread, no HTTP server); a listener notes when each group commit
  has returned, so this is exactly "its effect is committed".

Goal: p50 ≤ 5 ms, p99 ≤ 25 ms. Every timer is also checked to have fired at or after its due
time (``early`` counts those that did not: must be 0).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from _common import code_line, code_state, database, machine, say, stats, stores, table

from triggerfish.cli.local import LocalFarm
from triggerfish.engine import submit as engine_submit
from triggerfish.engine.loop import Engine, Wakeup
from triggerfish.model.jobspec import parse_jobs
from triggerfish.store import reads
from triggerfish.store.store import Store

PER_JOB = 1000
GOAL_P50 = 5.0
GOAL_P99 = 25.0


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="microseconds")


def held_job(name: str, times: list[float]) -> dict[str, Any]:
    cbs = [{"triggers": f"dummy-time-self-{iso(t)}", "language": "qube", "code": "block-self"}
           for t in times]  # fmt: skip
    return {"name": name, "package": {"cmdline": "true"}, "status": "blocked", "callbacks": cbs}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def one_run(store: str, pending: int, measured: int, spread: float) -> dict[str, float]:
    with database(store) as url, LocalFarm(workers=0, db_url=url, grace=5.0) as farm:
        client = farm.client(timeout=120)
        far = time.time() + 86400
        t0 = time.monotonic()
        for start in range(0, pending, PER_JOB):
            n = min(PER_JOB, pending - start)
            client.submit(held_job(f"far-{start}", [far + start + i for i in range(n)]))
        say(f"  {pending} pending timers registered in {time.monotonic() - t0:.1f} s")
        base = time.time() + 3.0
        rnd = random.Random(5)
        dues = sorted({round(base + rnd.uniform(0, spread), 6) for _ in range(measured)})
        client.submit(held_job("measured", dues))
        seen: dict[float, tuple[float, float]] = {}  # due -> (fired, visible)
        client.events(since=0, limit=1, type="time")
        since = client.event_head_seq  # the newest event: time events come after it
        deadline = time.time() + spread + 60
        while len(seen) < len(dues) and time.time() < deadline:
            events = client.events(since=since, limit=10_000, wait=5.0, type="time")
            got = time.time()
            since = client.last_event_seq
            for e in events:
                seen[float(e["data"]["due"])] = (float(e["time"]), got)
        if len(seen) < len(dues):
            raise SystemExit(f"only {len(seen)} of {len(dues)} timers fired")
        fired = [(f - d) * 1000 for d, (f, _) in seen.items()]
        visible = [(v - d) * 1000 for d, (_, v) in seen.items()]
        return {
            "fired_p50": percentile(fired, 50), "fired_p99": percentile(fired, 99),
            "visible_p50": percentile(visible, 50), "visible_p99": percentile(visible, 99),
            "visible_max": max(visible), "visible_mean": statistics.fmean(visible),
            "early": float(sum(1 for x in fired if x < 0)),
        }  # fmt: skip


def one_engine_run(store: str, pending: int, measured: int, spread: float) -> dict[str, float]:
    """The same load on an in-process engine; lateness until the commit has returned."""
    import tempfile

    with database(store) as url, tempfile.TemporaryDirectory() as tmp:
        st = Store(url or f"sqlite:///{tmp}/bench.db")
        eng = Engine(st)
        commits: list[tuple[int, float]] = []  # (last event seq, when its commit returned)

        def listener(w: Wakeup) -> None:
            commits.append((w.event_seq, time.time()))

        eng.listen(listener)
        eng.start()
        try:
            far = time.time() + 86400
            for start in range(0, pending, PER_JOB):
                n = min(PER_JOB, pending - start)
                jobs = parse_jobs([held_job(f"far-{start}", [far + start + i for i in range(n)])])
                eng.run_sync(engine_submit.submit, jobs, "bench", timeout=300)
            base = time.time() + 3.0
            rnd = random.Random(5)
            dues = sorted({round(base + rnd.uniform(0, spread), 6) for _ in range(measured)})
            eng.run_sync(engine_submit.submit, parse_jobs([held_job("measured", dues)]), "bench")
            deadline = time.time() + spread + 60
            time.sleep(max(0.0, dues[-1] - time.time() + 0.5))
            while time.time() < deadline:
                evs = [e for e in reads.list_events(st.engine, limit=100_000, types=["time"])]
                if len(evs) >= len(dues):
                    break
                time.sleep(0.2)
        finally:
            eng.stop()
            st.close()
        committed: list[float] = []
        fired: list[float] = []
        marks = sorted(commits)
        for e in evs:
            due = float(e["data"]["due"])
            when = next(t for seq, t in marks if seq >= e["seq"])
            committed.append((when - due) * 1000)
            fired.append((float(e["time"]) - due) * 1000)
        return {
            "fired_p50": percentile(fired, 50), "fired_p99": percentile(fired, 99),
            "committed_p50": percentile(committed, 50),
            "committed_p99": percentile(committed, 99), "committed_max": max(committed),
            "early": float(sum(1 for x in fired if x < 0)),
        }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pending", type=int, default=10_000)
    ap.add_argument("--measured", type=int, default=300)
    ap.add_argument("--spread", type=float, default=10.0)
    ap.add_argument("--store", default="both", choices=["sqlite", "postgresql", "both"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--via", default="both", choices=["http", "engine", "both"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    before = code_state()
    results: dict[str, Any] = {}
    runners = {"http": one_run, "engine": one_engine_run}
    vias = list(runners) if args.via == "both" else [args.via]
    for store in stores(args.store):
        for via in vias:
            runs = []
            for i in range(args.repeat):
                say(f"{store} via {via}: run {i + 1}/{args.repeat}")
                runs.append(runners[via](store, args.pending, args.measured, args.spread))
                say("  " + ", ".join(f"{k} {v:.2f}" for k, v in runs[-1].items()))
            results[f"{store} via {via}"] = stats(runs)
    if args.json:
        print(json.dumps({s: {k: v.as_dict() for k, v in r.items()} for s, r in results.items()}))
        return
    print(code_line(before))
    print(f"machine: {machine()}; {args.pending} pending, {args.measured} measured timers")
    rows = []
    for name, r in results.items():
        kind = "visible" if "visible_p50" in r else "committed"
        ok = r[f"{kind}_p50"].median <= GOAL_P50 and r[f"{kind}_p99"].median <= GOAL_P99
        rows.append([
            name, r["fired_p50"].fmt(), r["fired_p99"].fmt(), kind, r[f"{kind}_p50"].fmt(),
            r[f"{kind}_p99"].fmt(), r[f"{kind}_max"].fmt(), r["early"].fmt(0),
            "met" if ok else "missed",
        ])  # fmt: skip
    print(table(["store", "fired p50 ms", "fired p99 ms", "measured to", "p50 ms (≤ 5)",
                 "p99 ms (≤ 25)", "max ms", "early", "goal"], rows))  # fmt: skip


if __name__ == "__main__":
    main()
