"""Time of ``triggerfish jobs`` with 10,000 jobs in the supervisor.

    python bench/list_jobs.py [--jobs 10000] [--batch 500] [--store sqlite|postgresql|both]
                              [--repeat 3] [--json]

Per store: a fresh LocalFarm with no workers (fresh temporary data dir; on PostgreSQL a fresh
schema, dropped afterwards); ``--jobs`` small jobs (a 10-frame range each, pending) are
submitted in calls of ``--batch`` jobs (not timed). Then, ``--repeat`` times each, in turn:

- ``cli table``: ``python -m triggerfish jobs --url URL --limit N`` with stdout to /dev/null
  (a fresh interpreter: start-up, HTTP call, rich table);
- ``cli --json``: the same with ``--json``;
- ``cli startup``: ``python -m triggerfish --version``, the interpreter and import floor;
- ``api``: the bare call ``GET /api/v1/jobs?limit=N`` (httpx, fresh connection, body read and
  JSON-decoded), from this process.

Goal: the command under 1 s.
"""

from __future__ import annotations

import argparse
import io
import json
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from _common import code_line, code_state, database, machine, say, stats, stores, table

from triggerfish.cli.local import LocalFarm, child_env

GOAL = 1.0


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def run_cli(farm: LocalFarm, *args: str) -> None:
    """``triggerfish ARGS`` as a user on this machine: the farm's URL and admin token file."""
    subprocess.run(
        [sys.executable, "-m", "triggerfish", *args],
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env={**child_env(), **farm.client_env()},
        check=True,
    )


def fill(farm: LocalFarm, jobs: int, batch: int) -> None:
    with farm.client(timeout=300.0) as client:
        made = 0
        while made < jobs:
            n = min(batch, jobs - made)
            client.submit(
                [
                    {
                        "name": f"bench-list-{made + i}",
                        "prototype": "cmdrange",
                        "package": {"cmdline": "true", "range": "1-10"},
                    }
                    for i in range(n)
                ]
            )
            made += n


def bench_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    with (
        database(store) as db_url,
        LocalFarm(workers=0, db_url=db_url, log_level="warning") as farm,
    ):
        began = time.perf_counter()
        fill(farm, args.jobs, args.batch)
        say(f"[{store}] {args.jobs} jobs submitted in {time.perf_counter() - began:.1f} s")
        url = farm.url
        limit = str(args.jobs)
        body_bytes = 0
        assert farm.supervisor is not None
        sup = psutil.Process(farm.supervisor.pid)
        sup_cpu: list[float] = []

        def api() -> None:
            nonlocal body_bytes
            cpu0 = sum(sup.cpu_times()[:2])
            resp = httpx.get(f"{url}/api/v1/jobs", params={"limit": limit}, timeout=120.0,
                             headers={"Authorization": f"Bearer {farm.token}"})  # fmt: skip
            resp.raise_for_status()
            sup_cpu.append(sum(sup.cpu_times()[:2]) - cpu0)
            body_bytes = len(resp.content)
            if len(resp.json()["jobs"]) != args.jobs:
                raise RuntimeError("the API did not list every job")

        cases: dict[str, Callable[[], None]] = {
            "cli_table": lambda: run_cli(farm, "jobs", "--url", url, "--limit", limit),
            "cli_json": lambda: run_cli(farm, "jobs", "--url", url, "--limit", limit, "--json"),
            "cli_startup": lambda: run_cli(farm, "--version"),
            "api": api,
        }
        api()  # one warm-up call: the first read of a fresh supervisor compiles its queries
        rows = []
        for i in range(1, args.repeat + 1):
            row = {name: timed(fn) for name, fn in cases.items()}
            row["api_sup_cpu"] = sup_cpu[-1]
            say(
                f"[{store} {i}/{args.repeat}] "
                + ", ".join(f"{k} {v:.3f} s" for k, v in row.items())
            )
            rows.append(row)
    return {"stats": stats(rows), "body_bytes": body_bytes}


def profile(args: argparse.Namespace) -> None:
    """Where the time of the listing goes (SQLite): on a second farm whose supervisor counts
    (bench/_counting_supervisor.py), the garbage collector's time and py-spy's samples
    (non-blocking, GIL only) during three API calls; cProfile of the two commands.
    Summaries on stderr, files in ``args.profile``."""
    from profile_throughput import CountingFarm, record, stop, summarize

    out: Path = args.profile
    out.mkdir(parents=True, exist_ok=True)
    limit = str(args.jobs)
    with CountingFarm(workers=0, log_level="warning") as farm:
        assert farm.supervisor is not None
        fill(farm, args.jobs, args.batch)
        url = farm.url

        def api() -> None:
            resp = httpx.get(f"{url}/api/v1/jobs", params={"limit": limit}, timeout=120.0,
                             headers={"Authorization": f"Bearer {farm.token}"})  # fmt: skip
            resp.raise_for_status()

        api()
        httpx.post(f"{url}/bench/reset").raise_for_status()
        spy = record(farm.supervisor.pid, out / "list_api.txt", 500, "raw", native=False)
        time.sleep(1.0)
        sup = psutil.Process(farm.supervisor.pid)
        cpu0 = sum(sup.cpu_times()[:2])
        for _ in range(3):
            api()
        cpu = sum(sup.cpu_times()[:2]) - cpu0
        stop(spy)
        counts = httpx.get(f"{url}/bench/counts").json()
        gcs = ", ".join(
            f"{g}: {v['count']} ({1000 * v['seconds']:.0f} ms)" for g, v in counts["gc"].items()
        )
        say(f"## 3 calls of GET /api/v1/jobs?limit={limit}: supervisor CPU {cpu:.2f} s")
        say(f"garbage collections (under py-spy): {gcs}")
        say(summarize(out / "list_api.txt", 500, top=15))
        for name, extra in (("cli_table", []), ("cli_json", ["--json"])):
            prof = out / f"{name}.prof"
            cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "triggerfish", "jobs"]
            subprocess.run(
                [*cmd, "--url", url, "--limit", limit, *extra],
                stdout=subprocess.DEVNULL,
                env=child_env(),
                check=True,
            )
            text = io.StringIO()
            pstats.Stats(str(prof), stream=text).sort_stats("cumulative").print_stats(30)
            say(f"\n## cProfile: triggerfish jobs {' '.join(extra)}\n{text.getvalue()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="after timing, on one more (SQLite) farm: garbage collector time and py-spy "
        "samples of the supervisor during the API call, cProfile of the two commands; "
        "summaries on stderr, files in DIR",
    )
    args = p.parse_args(argv)
    code = code_state()
    results = {store: bench_store(store, args) for store in stores(args.store)}
    if args.profile is not None:
        profile(args)
    footer = code_line(code)
    if args.json:
        doc = {
            "benchmark": "list_jobs",
            "machine": machine(),
            "code": code,
            "params": vars(args),
            "results": {
                s: {
                    "body_bytes": r["body_bytes"],
                    **{k: v.as_dict() for k, v in r["stats"].items()},
                }
                for s, r in results.items()
            },
        }
        print(json.dumps(doc, indent=2))
        return 0
    head = [
        "store",
        f"`triggerfish jobs` s (goal < {GOAL:g})",
        "`triggerfish jobs --json` s",
        "`triggerfish --version` s (start-up floor)",
        "`GET /api/v1/jobs?limit=N` s",
        "API: supervisor CPU s",
        "API body",
    ]
    rows_md = []
    for store, r in results.items():
        st = r["stats"]
        rows_md.append(
            [
                store,
                st["cli_table"].fmt(3),
                st["cli_json"].fmt(3),
                st["cli_startup"].fmt(3),
                st["api"].fmt(3),
                st["api_sup_cpu"].fmt(2),
                f"{r['body_bytes'] / 1e6:.1f} MB",
            ]
        )
    print(table(head, rows_md))
    print(f"\n{args.jobs} jobs, --limit {args.jobs}; median (min-max) of {args.repeat} runs")
    print(footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
