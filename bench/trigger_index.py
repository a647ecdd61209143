"""Events matched per second by the trigger index, with few and with many registered atoms.

    python bench/trigger_index.py [--atoms 1000 1000000] [--events 200000] [--repeat 3] [--json]

Pure engine code, no supervisor: ``triggerfish.triggers.TriggerIndex`` alone, then the same
events through ``match`` and each matched callback's ``Latches.on_event`` (the whole pure path
of an event). The atoms are a Qube-style frame-by-frame pipeline: jobs 1..J of F frames each,
and for every frame f of job k ≥ 3 one callback
``complete-work-<k-1>-f && complete-work-<k-2>-f`` (two atoms), plus one pattern-variable
callback ``complete-work-<k-1>-$f && complete-work-<k-2>-$f`` per job. Keys are built the way
``compile_expr`` builds them (interned strings, int job ids) without parsing 500,000 texts.

Two event streams over the same jobs and frames. ``random``: uniform over all of them
(``running``/``complete``/``done`` work events, a third each of 90 %, ``assigned`` host events and
``running`` job events): every lookup lands somewhere new in memory, the worst case for CPU
caches. ``pipeline``: the order a farm produces, four jobs at a time, frames in order, each
frame assigned/running/complete/done, then the jobs complete. With 1,000 atoms the frames are
fewer, so each event matches about as many atoms as with 1,000,000.
Memory is what ``tracemalloc`` sees allocated by ``TriggerIndex.add`` (the keys are allocated
before, as the engine's ``Compiled`` objects hold them). Goal: ≥ 100,000 events/s with
1,000,000 atoms, within 20 % of the rate with 1,000.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
import tracemalloc
from typing import Any

from _common import code_line, code_state, machine, say, table

from triggerfish.triggers import Latches, Program, TriggerIndex, parse
from triggerfish.triggers.keys import Key

GOAL_RATE = 100_000
GOAL_SPREAD = 0.20
TURN = 2_000  # events matched by one index before the next takes its turn
JOBS = 100
_PROGRAM = Program.of(parse("complete-work-a-1 && complete-work-b-1"))
_VAR_PROGRAM = Program.of(parse("complete-work-a-$f && complete-work-b-$f"))

Event = tuple[str, str, int | None, str | None]


def layout(atoms: int) -> tuple[int, int]:
    """(jobs, frames per job) giving about ``atoms`` atoms: 2 per frame of jobs 3..J."""
    jobs = min(JOBS, max(3, atoms // 20))
    frames = max(1, atoms // (2 * (jobs - 2)))
    return jobs, frames


def keys_of(jobs: int, frames: int) -> list[tuple[int, list[Key]]]:
    """(callback id, keys) of the pipeline's callbacks."""
    out: list[tuple[int, list[Key]]] = []
    names = [sys.intern(str(f)) for f in range(1, frames + 1)]
    callback_id = 1
    for k in range(3, jobs + 1):
        for f in names:
            out.append(
                (callback_id, [("complete", "work", k - 1, f), ("complete", "work", k - 2, f)])
            )
            callback_id += 1
        out.append(
            (callback_id, [("complete", "work", k - 1, "$f"), ("complete", "work", k - 2, "$f")])
        )
        callback_id += 1
    return out


def random_events(jobs: int, frames: int, n: int, seed: int = 7) -> list[Event]:
    """Uniform over all jobs and frames: the worst case for caches."""
    rnd = random.Random(seed)
    out: list[Event] = []
    for _ in range(n):
        job = rnd.randint(1, jobs)
        frame = str(rnd.randint(1, frames))
        roll = rnd.random()
        if roll < 0.9:
            out.append((("running", "complete", "done")[int(roll / 0.3)], "work", job, frame))
        elif roll < 0.95:
            out.append(("assigned", "host", job, f"render{rnd.randint(1, 99):02d}"))
        else:
            out.append(("running", "job", job, None))
    return out


def pipeline_events(jobs: int, frames: int, n: int, active: int = 4) -> list[Event]:
    """The order a farm produces: ``active`` jobs at a time, their frames in order, each frame
    assigned, running, complete, done; then the jobs complete. Repeats until ``n`` events."""
    out: list[Event] = []
    while len(out) < n:
        for first in range(1, jobs + 1, active):
            block = range(first, min(jobs, first + active - 1) + 1)
            for f in range(1, frames + 1):
                frame = str(f)
                for job in block:
                    out.append(("assigned", "host", job, f"render{job % 99:02d}"))
                    out.extend(
                        (name, "work", job, frame) for name in ("running", "complete", "done")
                    )
            for job in block:
                out.extend([("complete", "job", job, None), ("done", "job", job, None)])
    return out[:n]


STREAMS = {"random": random_events, "pipeline": pipeline_events}


def build(registered: list[tuple[int, list[Key]]]) -> tuple[TriggerIndex, float, int]:
    """The index, its build time (s) and the bytes it allocated."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    index = TriggerIndex()
    began = time.perf_counter()
    for callback_id, keys in registered:
        for atom_no, key in enumerate(keys):
            index.add(callback_id, atom_no, key)
    seconds = time.perf_counter() - began
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return index, seconds, used


def rate_match(
    indexes: list[TriggerIndex], streams: list[list[Event]]
) -> list[tuple[float, float, int]]:
    """For each index and its events: events matched per second of wall time, per second of
    this process's CPU time, and the atoms matched. The indexes take turns every ``TURN``
    events, so that the load of the (shared) machine, which moves by the second, weighs on
    each alike: the goal compares them."""
    wall = [0.0] * len(indexes)
    cpu = [0.0] * len(indexes)
    matched = [0] * len(indexes)
    for start in range(0, len(streams[0]), TURN):
        for k, (index, events) in enumerate(zip(indexes, streams, strict=True)):
            chunk = events[start : start + TURN]
            match = index.match
            found = 0
            began, began_cpu = time.perf_counter(), time.process_time()
            for name, type_, job, extra in chunk:
                found += len(match(name, type_, job, extra))
            cpu[k] += time.process_time() - began_cpu
            wall[k] += time.perf_counter() - began
            matched[k] += found
    n = len(streams[0])
    return [(n / w, n / max(c, 1e-9), m) for w, c, m in zip(wall, cpu, matched, strict=True)]


def rate_full(index: TriggerIndex, events: list[Event], var_ids: set[int]) -> tuple[float, int]:
    """match + Latches.on_event per matched callback (latches created on first use)."""
    latches: dict[int, Latches] = {}
    match = index.match
    fired = 0
    began = time.perf_counter()
    for name, type_, job, extra in events:
        by_callback: dict[int, list[tuple[int, Any]]] = {}
        for m in match(name, type_, job, extra):
            by_callback.setdefault(m.callback_id, []).append((m.atom_no, m.bindings))
        for callback_id, matches in by_callback.items():
            state = latches.get(callback_id)
            if state is None:
                program = _VAR_PROGRAM if callback_id in var_ids else _PROGRAM
                state = latches[callback_id] = Latches(program)
            fired += len(state.on_event(matches))
    return len(events) / (time.perf_counter() - began), fired


class Size:
    """One index size: the registered callbacks, the index, its build, and the event streams."""

    def __init__(self, atoms: int, n_events: int) -> None:
        self.jobs, self.frames = layout(atoms)
        self.registered = keys_of(self.jobs, self.frames)
        self.var_ids = {cb for cb, keys in self.registered if keys[0][3] == "$f"}
        self.index, self.build_s, self.used = build(self.registered)
        self.events = {s: make(self.jobs, self.frames, n_events) for s, make in STREAMS.items()}


def measure(sizes: list[Size], n_events: int, repeat: int) -> list[dict[str, Any]]:
    """One row per index size and event stream; the sizes take turns (see ``rate_match``)."""
    rates: dict[tuple[int, str], tuple[list[float], list[float], list[float]]] = {}
    counts: dict[tuple[int, str], list[int]] = {}  # matched, fired, probes
    for i in range(repeat):
        for stream in STREAMS:
            probes0 = [size.index.probes for size in sizes]
            turns = rate_match([size.index for size in sizes], [s.events[stream] for s in sizes])
            for n, size in enumerate(sizes):
                rate, cpu_rate, matched = turns[n]
                full, fired = rate_full(size.index, size.events[stream], size.var_ids)
                match_rates, cpu_rates, full_rates = rates.setdefault((n, stream), ([], [], []))
                match_rates.append(rate)
                cpu_rates.append(cpu_rate)
                full_rates.append(full)
                total = counts.setdefault((n, stream), [0, 0, 0])
                total[0], total[1] = matched, fired
                total[2] += size.index.probes - probes0[n]
                say(
                    f"[{len(size.index):,} atoms, {stream} {i + 1}/{repeat}] "
                    f"match {rate:,.0f}/s, +latches {full:,.0f}/s"
                )
    rows = []
    for n, size in enumerate(sizes):
        for stream in STREAMS:
            match_rates, cpu_rates, full_rates = rates[n, stream]
            matched, fired, probes = counts[n, stream]
            rows.append(
                {
                    "atoms": len(size.index),
                    "stream": stream,
                    "callbacks": len(size.registered),
                    "jobs": size.jobs,
                    "frames": size.frames,
                    "build_seconds": size.build_s,
                    "index_bytes": size.used,
                    "match_rate": match_rates,
                    "match_cpu_rate": cpu_rates,
                    "full_rate": full_rates,
                    "matches_per_event": matched / n_events,
                    "firings_per_event": fired / n_events,
                    "probes_per_event": probes / (2 * repeat * n_events),
                }
            )
    return rows


def _paired(rates: list[float], fewest: list[float]) -> float:
    """Median over the repeats of (this rate / the rate with the fewest atoms in the same
    repeat) - 1: less moved by the load of a shared machine than the ratio of the medians."""
    return statistics.median(a / b for a, b in zip(rates, fewest, strict=True)) - 1


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--atoms", type=int, nargs="+", default=[1_000, 1_000_000])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    code = code_state()
    sizes = [Size(n, args.events) for n in args.atoms]
    results = measure(sizes, args.events, args.repeat)
    footer = code_line(code)
    if args.json:
        doc = {
            "benchmark": "trigger_index",
            "machine": machine(),
            "code": code,
            "params": vars(args),
            "results": results,
        }
        print(json.dumps(doc, indent=2))
        return 0
    first = {r["stream"]: statistics.median(r["match_rate"]) for r in reversed(results)}
    # the same repeat's run with the fewest atoms: the runs of one repeat follow each other
    first_runs = {r["stream"]: r["match_rate"] for r in reversed(results)}
    first_cpu = {r["stream"]: statistics.median(r["match_cpu_rate"]) for r in reversed(results)}
    head = [
        "atoms",
        "events",
        "callbacks",
        "build s",
        "index bytes/atom",
        "matches/event",
        "probes/event",
        f"match events/s (goal ≥ {GOAL_RATE:,})",
        "vs fewest atoms",
        "vs fewest, paired",
        "match events per CPU-s",
        "vs fewest atoms (CPU)",
        "match + latches events/s",
    ]
    rows = []
    for r in results:
        rate = statistics.median(r["match_rate"])
        cpu_rate = statistics.median(r["match_cpu_rate"])
        rows.append(
            [
                f"{r['atoms']:,}",
                r["stream"],
                f"{r['callbacks']:,}",
                f"{r['build_seconds']:.2f}",
                f"{r['index_bytes'] / max(1, r['atoms']):.0f}",
                f"{r['matches_per_event']:.2f}",
                f"{r['probes_per_event']:.1f}",
                _fmt(r["match_rate"]),
                f"{rate / first[r['stream']] - 1:+.1%}",
                f"{_paired(r['match_rate'], first_runs[r['stream']]):+.1%}",
                _fmt(r["match_cpu_rate"]),
                f"{cpu_rate / first_cpu[r['stream']] - 1:+.1%}",
                _fmt(r["full_rate"]),
            ]
        )
    print(table(head, rows))
    print(
        f"\n{args.events:,} events per run; median (min-max) of {args.repeat} runs; "
        f"goal: within {GOAL_SPREAD:.0%} of the rate with the fewest atoms, same stream"
    )
    print(footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
