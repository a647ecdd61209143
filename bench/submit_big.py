"""Time to submit one job of 100,000 frames through the HTTP API.

    python bench/submit_big.py [--frames 100000] [--store sqlite|postgresql|both] [--repeat 3]
                               [--json]

Each repeat starts a fresh LocalFarm with no workers (fresh temporary data dir; on PostgreSQL
a fresh schema, dropped afterwards) and times ``Client.submit`` of one cmdrange job whose
agenda is ``package.range = "1-N"`` (a few bytes on the wire; the supervisor expands it and
stores N agenda items before answering). On the same farm it then times a second job whose
agenda is sent as an explicit list of N names (``"agenda": ["1", "2", ...]``), a request of
about 8 bytes a frame. The supervisor answers only after the commit, so the time includes the
database write. Goal (range): under 2 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import psutil
from _common import code_line, code_state, database, machine, say, stats, stores, table

from triggerfish.cli.local import LocalFarm

GOAL = 2.0


def one_run(store: str, frames: int) -> dict[str, float]:
    by_range = {
        "name": "bench-submit-range",
        "prototype": "cmdrange",
        "package": {"cmdline": "true", "range": f"1-{frames}"},
    }
    by_list = {
        "name": "bench-submit-list",
        "prototype": "cmdrange",
        "agenda": [str(i) for i in range(1, frames + 1)],
        "package": {"cmdline": "true"},
    }
    out: dict[str, float] = {}
    with (
        database(store) as db_url,
        LocalFarm(workers=0, db_url=db_url, log_level="warning") as farm,
        farm.client(timeout=300.0) as client,
    ):
        assert farm.supervisor is not None
        sup = psutil.Process(farm.supervisor.pid)
        for key, job in (("range", by_range), ("list", by_list)):
            cpu0 = sum(sup.cpu_times()[:2])
            began = time.perf_counter()
            [submitted] = client.submit(job)
            out[f"{key}_seconds"] = time.perf_counter() - began
            out[f"{key}_sup_cpu"] = sum(sup.cpu_times()[:2]) - cpu0
            todo = client.job(submitted["id"], agenda=False)["todo"]
            if todo != frames:
                raise RuntimeError(f"job {submitted['id']} has {todo} items, not {frames}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    code = code_state()
    results: dict[str, Any] = {}
    for store in stores(args.store):
        rows = []
        for i in range(1, args.repeat + 1):
            row = one_run(store, args.frames)
            say(
                f"[{store} {i}/{args.repeat}] range {row['range_seconds']:.3f} s, "
                f"list {row['list_seconds']:.3f} s"
            )
            rows.append(row)
        results[store] = stats(rows)
    footer = code_line(code)
    if args.json:
        doc = {
            "benchmark": "submit_big",
            "machine": machine(),
            "code": code,
            "params": vars(args),
            "results": {s: {k: v.as_dict() for k, v in r.items()} for s, r in results.items()},
        }
        print(json.dumps(doc, indent=2))
        return 0
    head = [
        "store",
        f"range: submit s (goal < {GOAL:g})",
        "range: supervisor CPU s",
        "explicit list: submit s",
        "explicit list: supervisor CPU s",
    ]
    rows_md = [
        [
            store,
            r["range_seconds"].fmt(3),
            r["range_sup_cpu"].fmt(3),
            r["list_seconds"].fmt(3),
            r["list_sup_cpu"].fmt(3),
        ]
        for store, r in results.items()
    ]
    print(table(head, rows_md))
    print(f"\n{args.frames} frames; median (min-max) of {args.repeat} runs")
    print(footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
