"""The worker's cost of starting and watching one command, against a bare spawn.

    python bench/runner_spawn.py [--items 2000] [--rounds 3] [--asyncio]

Runs ``true`` ``--items`` times, one after the other, through the worker's ``Runner`` (as a
``cmdrange`` item: substitution, environment, ``posix_spawn`` in a new session, two output
pipes read at its end (the loop watches them only from 10 ms on) and a pidfd watched by the
event loop, reaping) on uvloop (``--asyncio``: the standard loop), then the same number of
bare ``os.posix_spawn("/bin/sh", ["-c", "true"])`` + ``waitpid``.
Issue 15 item 1: the runner runs twice per round, without a guard (the runner before the
guardian) and with one (what a worker runs: each command recorded with the guardian process,
its pipes' read ends passed along), in turns, ``--rounds`` times; the medians are printed.
Prints the CPU time of this process (the parent: the children's time is not counted) per
command, and commands per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from triggerfish.api.schemas import Assignment
from triggerfish.worker.guard import Guard
from triggerfish.worker.runner import Runner


def assignment(i: int) -> Assignment:
    return Assignment(
        token=f"t{i}", job=1, subid=0, work=str(i), pgrp=1, name="bench", prototype="cmdrange",
        package={"cmdline": "true", "range": "1-100000"}, frame_start=i, frame_end=i,
        frame_step=1,
    )  # fmt: skip


async def timed(runner: Runner, jobs: list[Assignment]) -> tuple[float, float]:
    """CPU ms per command, commands per second."""
    cpu, wall = time.process_time(), time.perf_counter()
    for a in jobs:
        report = await runner.run(a)
        assert report.status == "complete", report
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / len(jobs) * 1000, len(jobs) / wall


async def main(items: int, rounds: int) -> None:
    jobs = [assignment(i) for i in range(items)]
    old = Runner(lambda *_: None)
    new = Runner(lambda *_: None, guard=Guard())
    await new.start()
    results: dict[str, list[tuple[float, float]]] = {"no guard": [], "guardian": []}
    for n in range(rounds):  # in turns, each first every other round
        for name in ("no guard", "guardian")[:: 1 if n % 2 == 0 else -1]:
            results[name].append(await timed(old if name == "no guard" else new, jobs))
    await new.aclose()
    await old.aclose()
    for name, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        spread = ", ".join(f"{r[0]:.3f}" for r in runs)
        print(f"Runner, {name + ':':10s} {cpu:.3f} ms CPU per command ({spread}), {rate:.0f}/s")
    env = dict(os.environ)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(items):
        os.waitpid(os.posix_spawn("/bin/sh", ["/bin/sh", "-c", "true"], env), 0)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"bare posix_spawn:  {cpu / items * 1000:.3f} ms CPU per command, {items / wall:.0f}/s")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--asyncio", action="store_true", help="the standard loop, not uvloop")
    args = p.parse_args()
    if args.asyncio:
        asyncio.run(main(args.items, args.rounds))
    else:
        import uvloop

        uvloop.run(main(args.items, args.rounds))
