"""Issue 4: does a storm of python callback runs delay the engine? A storm of 10,000 python
firings must never delay a qube action or a dispatch by more than 100 ms.

    python bench/callback_storm.py [--firings 10000] [--store sqlite|postgresql|both]
                                   [--repeat 1] [--probe-every 0.25] [--workers 2] [--slots 2]
                                   [--callback-workers 4] [--json]

On a fresh LocalFarm (``--workers`` x ``--slots``, callback runners ``--callback-workers``,
default time and memory limits), probes are sent at a steady pace (one every
``--probe-every`` s), first for ``--baseline`` s (10) without a storm (**baseline**), then
during a **storm** (``--firings 0``: no storm, only the baseline): a
job of ``--firings`` frames of ``true`` (``cpus`` 2, so two slots stay free for the probes)
with one python callback ``done-work-self-*`` — one python run per frame, 10,000 runs, each
appending the frame's name to a file (so the bench can see the runs drain without asking the
supervisor). The probes go on until every run has ended.

Each probe is one submission of two one-frame jobs at priority 1: ``up`` and ``down``, ``down``
linked to ``up`` frame by frame (``dependency: link-complete-work-up``: a qube
``unblock-work-self`` callback fires in the commit that completes ``up``'s frame). From the event
log (an event's ``time`` is the engine clock at the start of the group commit that wrote it):

- **dispatch**: ``up``'s ``submit`` → its frame's ``assigned`` (the commit that handed it to a
  worker);
- **qube action → dispatch**: ``up``'s frame ``complete`` → ``down``'s frame ``assigned`` (the
  qube action and the dispatch it makes possible);
- **control**: the client-side round trip of ``POST /control`` (block, then unblock, of a job
  that can never run), a command through the engine's queue and commit.

The table gives, per phase, the median / p99 / max of each. Goal: during the storm, the max of
each under 100 ms (the issue: "never delays a qube action or a dispatch by more than 100 ms");
the baseline shows what the same farm does without a storm.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from _common import code_line, code_state, database, machine, say, stores, table

from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client

JSON = dict[str, Any]
GOAL_MS = 100.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _all_events(client: Client) -> list[JSON]:
    out: list[JSON] = []
    while batch := client.events(since=out[-1]["seq"] if out else 0, limit=10_000):
        out += batch
    return out


class Prober:
    """Sends a probe pair every ``every`` seconds and times control round trips."""

    def __init__(self, client: Client, every: float, parked: int) -> None:
        self.client = client
        self.every = every
        self.parked = parked
        self.probes: list[tuple[str, int, int]] = []  # (phase, up id, down id)
        self.control_ms: list[tuple[str, float]] = []
        self.phase = "baseline"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        n = 0
        verbs = ("unblock", "block")
        while not self._stop.is_set():
            began = time.monotonic()
            n += 1
            phase = self.phase
            jobs = self.client.submit([
                {"name": f"probe-up-{n}", "label": "up", "priority": 1,
                 "package": {"cmdline": "true", "range": "1"}},
                {"name": f"probe-down-{n}", "priority": 1, "dependency": "link-complete-work-up",
                 "package": {"cmdline": "true", "range": "1"}},
            ])  # fmt: skip
            self.probes.append((phase, jobs[0]["id"], jobs[1]["id"]))
            t0 = time.perf_counter()
            self.client.control(verbs[(n - 1) % 2], [self.parked])
            self.control_ms.append((phase, (time.perf_counter() - t0) * 1000))
            self._stop.wait(max(0.0, self.every - (time.monotonic() - began)))


def _phase(prober: Prober, phase: str, events: list[JSON]) -> JSON:
    submit_t: dict[int, float] = {}
    complete_t: dict[int, float] = {}
    assigned_t: dict[int, float] = {}
    for e in events:
        if e["type"] == "job" and e["name"] == "submit":
            submit_t[e["job"]] = e["time"]
        elif e["type"] == "work" and e["name"] == "complete":
            complete_t.setdefault(e["job"], e["time"])
        elif e["type"] == "host" and e["name"] == "assigned":
            assigned_t.setdefault(e["job"], e["time"])
    mine = [(u, d) for p, u, d in prober.probes if p == phase]
    dispatch = [(assigned_t[u] - submit_t[u]) * 1000 for u, _ in mine]
    qube = [(assigned_t[d] - complete_t[u]) * 1000 for u, d in mine]
    control = [ms for p, ms in prober.control_ms if p == phase]
    out: JSON = {"probes": len(mine)}
    for name, vals in (("dispatch", dispatch), ("qube", qube), ("control", control)):
        out[f"{name}_p50"] = percentile(vals, 50)
        out[f"{name}_p99"] = percentile(vals, 99)
        out[f"{name}_max"] = max(vals)
        out[f"{name}_over"] = sum(1 for v in vals if v > GOAL_MS)
    return out


def _baseline_only(client: Client, prober: Prober) -> JSON:
    ids = [i for _, u, d in prober.probes for i in (u, d)]
    client.wait(ids, timeout=600)
    events = _all_events(client)
    return {"fired": 0, "runs_complete": 0, "storm_job_s": 0.0, "drain_s": 0.0,
            "runs_per_s": 0.0, "sup_cpu_s": 0.0,
            "phases": {"baseline": _phase(prober, "baseline", events)}}  # fmt: skip


def storm_run(store: str, args: argparse.Namespace) -> JSON:
    os.environ["TRIGGERFISH_CALLBACK_WORKERS"] = str(args.callback_workers)
    out_file = Path(tempfile.mkstemp(prefix="storm-", suffix=".txt")[1])
    code = f"open({str(out_file)!r}, 'a').write(event['work'] + '\\n')\n"
    with (
        database(store) as db_url,
        LocalFarm(
            workers=args.workers, slots=args.slots, db_url=db_url, log_level="warning"
        ) as farm,  # fmt: skip
        farm.client(timeout=120.0) as client,
        farm.client(timeout=120.0) as probe_client,
    ):
        assert farm.supervisor is not None
        sup = psutil.Process(farm.supervisor.pid)
        [parked] = client.submit([{"name": "parked", "status": "blocked", "hosts": ["nowhere"],
                                   "package": {"cmdline": "true"}}])  # fmt: skip
        prober = Prober(probe_client, args.probe_every, parked["id"])
        prober.start()
        time.sleep(args.baseline)
        if args.firings == 0:  # a baseline only: what the farm does on this machine, no storm
            prober.stop()
            out_file.unlink()
            return _baseline_only(client, prober)
        prober.phase = "storm"
        cpu0 = sup.cpu_times()
        began = time.monotonic()
        [storm] = client.submit([{
            "name": "storm", "cpus": 2,
            "package": {"cmdline": "true", "range": f"1-{args.firings}"},
            "callbacks": [{"triggers": "done-work-self-*", "language": "python", "code": code}],
        }])  # fmt: skip
        client.wait([storm["id"]], timeout=3600)
        job_s = time.monotonic() - began
        last_report = 0.0
        while True:
            done = len(out_file.read_text().splitlines())
            if done >= args.firings:
                break
            if time.monotonic() - last_report > 15:
                say(f"  {done:,} of {args.firings:,} runs ended after "
                    f"{time.monotonic() - began:.0f} s")  # fmt: skip
                last_report = time.monotonic()
            time.sleep(0.5)
        drain_s = time.monotonic() - began
        cpu1 = sup.cpu_times()
        prober.stop()
        ups = [u for _, u, _ in prober.probes]
        downs = [d for _, _, d in prober.probes]
        client.wait(ups + downs, timeout=600)
        events = _all_events(client)
        runs = client.callbacks(storm["id"], runs=args.firings + 10)["runs"]
    out_file.unlink()
    fired = sum(1 for e in events if e["type"] == "callback" and e["name"] == "fired"
                and e["job"] == storm["id"])  # fmt: skip
    res: JSON = {
        "fired": fired,
        "runs_complete": sum(1 for r in runs if r["status"] == "complete"),
        "storm_job_s": job_s,
        "drain_s": drain_s,
        "runs_per_s": args.firings / drain_s,
        "sup_cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        "phases": {},
    }
    for phase in ("baseline", "storm"):
        res["phases"][phase] = _phase(prober, phase, events)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--firings", type=int, default=10_000)
    p.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="sqlite")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--probe-every", type=float, default=0.25)
    p.add_argument("--baseline", type=float, default=10.0, help="seconds of probes before")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--callback-workers", type=int, default=4)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    code = code_state()
    results: dict[str, list[JSON]] = {}
    for store in stores(args.store):
        for i in range(1, args.repeat + 1):
            say(f"[storm {store} {i}/{args.repeat}] {args.firings:,} python firings ...")
            r = storm_run(store, args)
            s = r["phases"].get("storm") or r["phases"]["baseline"]
            say(f"  fired {r['fired']:,}, runs complete {r['runs_complete']:,}, drained in "
                f"{r['drain_s']:.0f} s; storm max: dispatch {s['dispatch_max']:.1f} ms, qube "
                f"{s['qube_max']:.1f} ms, control {s['control_max']:.1f} ms")  # fmt: skip
            results.setdefault(store, []).append(r)
    footer = code_line(code)
    if args.json:
        print(json.dumps({"benchmark": "callback_storm", "machine": machine(), "code": code,
                          "params": vars(args), "results": results}, indent=2))  # fmt: skip
        return 0
    head = ["store", "run", "phase", "probes",
            "dispatch p50 / p99 / max ms", "qube action → dispatch p50 / p99 / max ms",
            "control round trip p50 / p99 / max ms", f"probes > {GOAL_MS:g} ms",
            f"max ≤ {GOAL_MS:g} ms"]  # fmt: skip
    rows = []
    for store, runs in results.items():
        for i, r in enumerate(runs, start=1):
            for phase, ph in r["phases"].items():
                worst = max(ph["dispatch_max"], ph["qube_max"], ph["control_max"])
                rows.append([store, str(i), phase, str(ph["probes"])] + [
                    " / ".join(f"{ph[f'{m}_{k}']:.1f}" for k in ("p50", "p99", "max"))
                    for m in ("dispatch", "qube", "control")
                ] + [" / ".join(str(ph[f"{m}_over"]) for m in ("dispatch", "qube", "control")),
                     "yes" if worst <= GOAL_MS else "**no**"])  # fmt: skip
    print(table(head, rows))
    print()
    head2 = ["store", "run", "firings recorded", "runs complete", "storm job s",
             "all runs ended s", "runs/s", "supervisor CPU s"]  # fmt: skip
    rows2 = [[store, str(i), f"{r['fired']:,}", f"{r['runs_complete']:,}",
              f"{r['storm_job_s']:.1f}", f"{r['drain_s']:.1f}", f"{r['runs_per_s']:.0f}",
              f"{r['sup_cpu_s']:.1f}"]
             for store, runs in results.items() for i, r in enumerate(runs, start=1)]  # fmt: skip
    print(table(head2, rows2))
    print()
    m = machine()
    print(f"machine: nproc {m['nproc']}, {m['memory']}, {m['cpu']}, Python {m['python']}")
    print(footer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
