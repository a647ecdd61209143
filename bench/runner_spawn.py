"""The worker's cost of starting and watching one command, against a bare spawn.

    python bench/runner_spawn.py [--items 2000] [--asyncio]

Runs ``true`` ``--items`` times, one after the other, through the worker's ``Runner`` (as a
``cmdrange`` item: substitution, environment, ``posix_spawn`` in a new session, two output
pipes read at its end (the loop watches them only from 10 ms on) and a pidfd watched by the
event loop, reaping) on uvloop (``--asyncio``: the standard loop), then the same number of
bare ``os.posix_spawn("/bin/sh", ["-c", "true"])`` + ``waitpid``.
Prints the CPU time of this process (the parent: the children's time is not counted) per
command, and commands per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from triggerfish.api.schemas import Assignment
from triggerfish.worker.runner import Runner


def assignment(i: int) -> Assignment:
    return Assignment(
        token=f"t{i}", job=1, subid=0, work=str(i), pgrp=1, name="bench", prototype="cmdrange",
        package={"cmdline": "true", "range": "1-100000"}, frame_start=i, frame_end=i,
        frame_step=1,
    )  # fmt: skip


async def main(items: int) -> None:
    runner = Runner(lambda *_: None)
    jobs = [assignment(i) for i in range(items)]
    cpu, wall = time.process_time(), time.perf_counter()
    for a in jobs:
        report = await runner.run(a)
        assert report.status == "complete", report
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"Runner:            {cpu / items * 1000:.3f} ms CPU per command, {items / wall:.0f}/s")
    env = dict(os.environ)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(items):
        os.waitpid(os.posix_spawn("/bin/sh", ["/bin/sh", "-c", "true"], env), 0)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"bare posix_spawn:  {cpu / items * 1000:.3f} ms CPU per command, {items / wall:.0f}/s")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--asyncio", action="store_true", help="the standard loop, not uvloop")
    args = p.parse_args()
    if args.asyncio:
        asyncio.run(main(args.items))
    else:
        import uvloop

        uvloop.run(main(args.items))
