"""Recovery time after a worker SIGKILL: from the kill to its item running on another host.

    python bench/worker_recovery.py [--kills 20] [--workers 3] [--host-timeout 30]
                                    [--store sqlite|postgresql|both] [--json]

A farm of ``--workers`` workers of one slot each, host timeout ``--host-timeout`` seconds. Each
round submits a one-item job (a long ``sleep``), waits until it runs, SIGKILLs the worker that
runs it (its machine stays up: the kernel closes its connections), and measures the time from
the kill to the item's ``running`` work event on another host (the event's time, written by
the supervisor on this machine's clock; and the time this script saw it, by polling every
20 ms). Also the time to the host's ``down`` event. Then the job is killed, the orphaned
``sleep`` (if the worker left it behind) is ended, and the worker is started again under its
name, registered before the next round. Prints p50 and max per store.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from typing import Any

import psutil
from _common import code_line, code_state, database, machine, say, stores, table

from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client

POLL = 0.02


def wait_for(pred: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(POLL)
    raise SystemExit(f"{what}: not within {timeout:g} s")


def running_host(c: Client, job: int) -> str | None:
    w = c.work(job, "1")
    return str(w["host"]) if w["status"] == "running" else None


def end_orphans(marker: str) -> int:
    """End the ``sleep`` commands a killed worker left behind (found by their argument)."""
    n = 0
    for p in psutil.process_iter(["cmdline"]):
        if marker in (p.info["cmdline"] or []):
            try:
                p.kill()
                n += 1
            except psutil.NoSuchProcess:
                pass
    return n


def one_kill(farm: LocalFarm, c: Client, k: int, marker: str) -> dict[str, float]:
    [job] = c.submit([{"name": f"victim{k}", "package": {"cmdline": f"sleep {marker}",
                                                         "range": "1"}}])  # fmt: skip
    host = wait_for(lambda: running_host(c, job["id"]), 30, "the item running")
    index = farm.worker_names.index(host)
    killed = time.time()
    farm.kill_worker(index)

    def moved() -> dict[str, Any] | None:
        for e in c.events(job=job["id"], limit=1000):
            if e["type"] == "work" and e["name"] == "running" and e["host"] != host:
                return e
        return None

    ev = wait_for(moved, 120, "the item running elsewhere")
    seen = time.time()
    down = [e for e in c.events(type="host", limit=10_000)
            if e["name"] == "down" and e["host"] == host and e["time"] >= killed - 1]  # fmt: skip
    c.kill(job["id"])
    end_orphans(marker)
    farm.restart_worker(index)
    wait_for(lambda: any(h["name"] == host and h["state"] == "active" for h in c.hosts()),
             60, "the worker registered again")  # fmt: skip
    return {
        "recovery": ev["time"] - killed,
        "seen": seen - killed,
        "down": (down[-1]["time"] - killed) if down else float("nan"),
    }


def run_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    marker = f"{900 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    rounds = []
    with database(store) as db, LocalFarm(
        args.workers, 1, db_url=db, host_timeout=args.host_timeout
    ) as farm, farm.client() as c:  # fmt: skip
        for k in range(1, args.kills + 1):
            r = one_kill(farm, c, k, marker)
            say(f"{store} kill {k}: recovery {r['recovery']:.3f} s (down {r['down']:.3f} s)")
            rounds.append(r)
    end_orphans(marker)
    rec = [r["recovery"] for r in rounds]
    return {
        "store": store,
        "kills": len(rounds),
        "p50": statistics.median(rec),
        "max": max(rec),
        "min": min(rec),
        "seen_p50": statistics.median(r["seen"] for r in rounds),
        "down_p50": statistics.median(r["down"] for r in rounds),
        "runs": rec,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--host-timeout", type=float, default=30.0)
    p.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="sqlite")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    before = code_state()
    results = [run_store(store, args) for store in stores(args.store)]
    if args.json:
        print(json.dumps({"machine": machine(), "code": before, "results": results}, indent=1))
        return
    rows = [
        [r["store"], str(r["kills"]), f"{r['p50']:.2f}", f"{r['max']:.2f}", f"{r['min']:.2f}",
         f"{r['down_p50']:.2f}", f"{r['seen_p50']:.2f}"]
        for r in results
    ]  # fmt: skip
    print(f"workers: {args.workers} x 1 slot; host timeout {args.host_timeout:g} s")
    print(table(["store", "kills", "p50 s", "max s", "min s", "down p50 s", "seen p50 s"], rows))
    print(code_line(before))


if __name__ == "__main__":
    main()
