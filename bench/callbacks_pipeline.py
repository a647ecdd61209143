"""The three-stage pipeline of issue 3, written the Qube way: submission time and the latency
from an input frame's completion to the dependent frame's dispatch, through qube actions.

    python bench/callbacks_pipeline.py [--frames 10000] [--store sqlite|postgresql|both]
                                       [--repeat 3] [--latency-frames 300] [--workers 2]
                                       [--slots 2] [--cpus 1,1,2] [--skip-submit]
                                       [--skip-latency] [--json]

The pipeline is one pgrp of three cmdrange jobs, ``ribgen`` → ``render`` → ``composite``, linked
frame by frame. ``render`` and ``composite`` are submitted with every item blocked and are
released item by item by qube callbacks (``unblock-work-self``), in one of two forms:

- ``per-frame`` (the Qube way): ONE callback per frame and job, ``complete-work-ribgen-N`` for
  render and ``complete-work-ribgen-N && complete-work-render-N`` for composite: 2 N callbacks;
- ``$f``: one pattern-variable callback per job, ``complete-work-ribgen-$f`` and
  ``complete-work-ribgen-$f && complete-work-render-$f``: 2 callbacks.

(a) **Submission.** A fresh LocalFarm with no workers; ``Client.submit`` of the ``--frames``
pipeline in the per-frame form is timed until answered (the answer comes after the commit),
with the supervisor's CPU time (user+system) over the call. Then the supervisor is SIGKILLed
and restarted on the same store, and the time until it answers again is taken (it loads the
active jobs and the 2 N callbacks). Then the same pipeline in the ``$f`` form is submitted on
that farm (a second pgrp) and timed. Goal (per-frame form): under 2 s.

(b) **Latency.** For each form, a fresh LocalFarm of ``--workers`` x ``--slots`` runs a
``--latency-frames`` pipeline whose commands are ``true``, to the end. From the event log, for
each frame N of composite: the later (by seq) of the ``complete`` work events of ribgen N and
render N → the ``assigned`` host event of composite N (its first dispatch; the ``running`` work
event is in the same commit); for each frame N of render: ribgen N ``complete`` → render N
``assigned``. An event's ``time`` is the engine's clock at the start of the group commit that
wrote it, so a latency is the time between the commit that completed the input (where the
callback fires and unblocks the item, in the same transaction) and the commit that handed the
item to a worker; the worker's round trip to receive it is not included. Goal: p99 under 50 ms.

The instances of the three jobs (``--cpus``, default 1,1,2 = the 4 slots) are chosen so that every
job has slots of its own: an instance keeps its slot while its job has pending items (the next
item of the same job is started in the answer to the report), so with every job at ``cpus`` =
all slots the dependent frames queue behind the upstream jobs' instances until those finish —
scheduling, not callback latency. Priorities: composite 10, render 20, ribgen 30. Each run also
checks from the event log that every composite frame started only after both its inputs
completed (``frame_order_ok``), and that each unblock was written in the commit of its input's
completion.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import psutil
from _common import code_line, code_state, database, machine, say, stats, stores, table

from triggerfish.cli.demo import frame_order_ok
from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client

SUBMIT_GOAL = 2.0
LATENCY_GOAL_MS = 50.0
FORMS = ("per-frame", "$f")
JSON = dict[str, Any]


def pipeline(frames: int, form: str, cpus: tuple[int, int, int] = (1, 1, 1)) -> list[JSON]:
    """ribgen → render → composite, frames 1..N, in one pgrp; commands ``true``."""
    names = [str(i) for i in range(1, frames + 1)]
    if form == "per-frame":
        render_cbs = [f"complete-work-ribgen-{n}" for n in names]
        comp_cbs = [f"complete-work-ribgen-{n} && complete-work-render-{n}" for n in names]
    else:
        render_cbs = ["complete-work-ribgen-$f"]
        comp_cbs = ["complete-work-ribgen-$f && complete-work-render-$f"]

    def job(label: str, cpus: int, priority: int, triggers: list[str] | None) -> JSON:
        out: JSON = {
            "name": f"bench-{label}", "label": label, "cpus": cpus, "priority": priority,
            "prototype": "cmdrange", "package": {"cmdline": "true"},
        }  # fmt: skip
        if triggers is None:
            out["package"]["range"] = f"1-{frames}"
        else:
            out["agenda"] = [{"name": n, "status": "blocked"} for n in names]
            out["callbacks"] = [
                {"triggers": t, "language": "qube", "code": "unblock-work-self"} for t in triggers
            ]
        return out

    return [
        job("ribgen", cpus[0], 30, None),
        job("render", cpus[1], 20, render_cbs),
        job("composite", cpus[2], 10, comp_cbs),
    ]


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _all_events(client: Client) -> list[JSON]:
    out: list[JSON] = []
    while batch := client.events(since=out[-1]["seq"] if out else 0, limit=10_000):
        out += batch
    return out


# ---------------------------------------------------------------- (a) submission


def submit_run(store: str, frames: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with (
        database(store) as db_url,
        LocalFarm(workers=0, db_url=db_url, log_level="warning", startup_timeout=300) as farm,
        farm.client(timeout=300.0) as client,
    ):
        assert farm.supervisor is not None
        for form in FORMS:
            body = pipeline(frames, form)
            sup = psutil.Process(farm.supervisor.pid)
            cpu0 = _cpu(sup)
            began = time.perf_counter()
            jobs = client.submit(body)
            key = "perframe" if form == "per-frame" else "f"
            out[f"{key}_seconds"] = time.perf_counter() - began
            out[f"{key}_sup_cpu"] = _cpu(sup) - cpu0
            if client.last_warnings:
                raise RuntimeError(f"unexpected warnings: {client.last_warnings[:3]}")
            want = frames if form == "per-frame" else 1
            for j in jobs[1:]:
                got = len(client.callbacks(j["id"], runs=0)["callbacks"])
                if got != want:
                    raise RuntimeError(f"job {j['label']} has {got} callbacks, not {want}")
            if form == "per-frame":
                began = time.perf_counter()
                farm.restart_supervisor()  # SIGKILL, then start on the same store
                out["restart_seconds"] = time.perf_counter() - began
    return out


# ---------------------------------------------------------------- (b) latency


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latencies(events: list[JSON], ids: dict[str, int]) -> dict[str, Any]:
    """Per composite and render frame: input completion → first dispatch, in ms."""
    complete: dict[tuple[int, str], JSON] = {}
    assigned: dict[tuple[int, str], JSON] = {}
    pending: dict[tuple[int, str], JSON] = {}
    for e in events:
        key = (e["job"], e["work"])
        if e["type"] == "work" and e["name"] == "complete":
            complete.setdefault(key, e)
        elif e["type"] == "work" and e["name"] == "pending":
            pending.setdefault(key, e)  # the first: the unblock
        elif e["type"] == "host" and e["name"] == "assigned":
            assigned.setdefault(key, e)
    rib, ren, comp = ids["ribgen"], ids["render"], ids["composite"]
    out: dict[str, Any] = {"composite": [], "render": [], "same_commit": 0, "frames": 0}
    for (job, name), a in assigned.items():
        if job == comp:
            ins = [complete[(rib, name)], complete[(ren, name)]]
            last = max(ins, key=lambda e: e["seq"])
            out["composite"].append((a["time"] - last["time"]) * 1000)
            out["frames"] += 1
            unblock = pending.get((comp, name))
            if unblock is not None and unblock["time"] == last["time"]:
                out["same_commit"] += 1
        elif job == ren:
            out["render"].append((a["time"] - complete[(rib, name)]["time"]) * 1000)
    return out


def latency_run(
    store: str, frames: int, form: str, workers: int, slots: int, cpus: tuple[int, int, int]
) -> dict[str, float]:
    with (
        database(store) as db_url,
        LocalFarm(workers=workers, slots=slots, db_url=db_url, log_level="warning") as farm,
        farm.client(timeout=60.0) as client,
    ):
        assert farm.supervisor is not None
        sup = psutil.Process(farm.supervisor.pid)
        busy0 = psutil.cpu_times()
        cpu0 = _cpu(sup)
        began = time.perf_counter()
        jobs = client.submit(pipeline(frames, form, cpus))
        ids = {j["label"]: j["id"] for j in jobs}
        final = client.wait(list(ids.values()), timeout=600)
        wall = time.perf_counter() - began
        sup_cpu = _cpu(sup) - cpu0
        busy1 = psutil.cpu_times()
        if set(final.values()) != {"complete"}:
            raise RuntimeError(f"the pipeline did not complete: {final}")
        events = _all_events(client)
    checked, problems = frame_order_ok(events, ids)
    if problems or checked != frames:
        raise RuntimeError(f"frame order: {checked} checked, problems {problems[:3]}")
    lat = latencies(events, ids)
    if lat["frames"] != frames:
        raise RuntimeError(f"{lat['frames']} composite frames dispatched, not {frames}")
    idle = busy1.idle - busy0.idle
    total = sum(busy1) - sum(busy0)
    out = {"wall": wall, "sup_cpu": sup_cpu, "busy": 1 - idle / total if total else 0.0}
    out["same_commit"] = lat["same_commit"] / frames
    for stage in ("composite", "render"):
        for p in (50, 95, 99):
            out[f"{stage}_p{p}"] = percentile(lat[stage], p)
        out[f"{stage}_max"] = max(lat[stage])
    return out


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--latency-frames", type=int, default=300)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--cpus", default="1,1,2", help="instances of ribgen,render,composite")
    p.add_argument("--skip-submit", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    cpus = tuple(int(x) for x in args.cpus.split(","))
    if len(cpus) != 3 or min(cpus) < 1:
        p.error("--cpus: three positive numbers, e.g. 1,1,2")
    code = code_state()
    submit_res: dict[str, Any] = {}
    latency_res: dict[str, dict[str, Any]] = {}
    for store in stores(args.store):
        if not args.skip_submit:
            rows = []
            for i in range(1, args.repeat + 1):
                row = submit_run(store, args.frames)
                say(
                    f"[submit {store} {i}/{args.repeat}] per-frame {row['perframe_seconds']:.2f} s "
                    f"(supervisor CPU {row['perframe_sup_cpu']:.2f} s), restart "
                    f"{row['restart_seconds']:.2f} s, $f {row['f_seconds']:.3f} s"
                )
                rows.append(row)
            submit_res[store] = stats(rows)
        if not args.skip_latency:
            for form in FORMS:
                rows = []
                for i in range(1, args.repeat + 1):
                    row = latency_run(
                        store, args.latency_frames, form, args.workers, args.slots, cpus
                    )  # fmt: skip
                    say(
                        f"[latency {store} {form} {i}/{args.repeat}] composite p50 "
                        f"{row['composite_p50']:.1f} p95 {row['composite_p95']:.1f} p99 "
                        f"{row['composite_p99']:.1f} max {row['composite_max']:.1f} ms; render "
                        f"p99 {row['render_p99']:.1f} ms; {row['wall']:.1f} s"
                    )
                    rows.append(row)
                latency_res.setdefault(store, {})[form] = stats(rows)
    footer = code_line(code)
    if args.json:
        doc = {
            "benchmark": "callbacks_pipeline",
            "machine": machine(),
            "code": code,
            "params": vars(args),
            "submit": {s: {k: v.as_dict() for k, v in r.items()} for s, r in submit_res.items()},
            "latency": {
                s: {f: {k: v.as_dict() for k, v in r.items()} for f, r in forms.items()}
                for s, forms in latency_res.items()
            },
        }
        print(json.dumps(doc, indent=2))
        return 0
    if submit_res:
        head = [
            "store",
            f"per-frame ({2 * args.frames:,} callbacks): submit s (goal < {SUBMIT_GOAL:g})",
            "its supervisor CPU s",
            "restart with them: s until answered",
            "$f (2 callbacks): submit s",
            "its supervisor CPU s",
        ]
        rows_md = [
            [
                store,
                r["perframe_seconds"].fmt(2),
                r["perframe_sup_cpu"].fmt(2),
                r["restart_seconds"].fmt(2),
                r["f_seconds"].fmt(3),
                r["f_sup_cpu"].fmt(3),
            ]
            for store, r in submit_res.items()
        ]
        print(f"(a) submission of a {args.frames:,}-frame three-stage pipeline\n")
        print(table(head, rows_md))
        print()
    if latency_res:
        head = [
            "store",
            "form",
            f"composite p50 / p95 / p99 ms (goal p99 < {LATENCY_GOAL_MS:g})",
            "composite max ms",
            "render p50 / p95 / p99 ms",
            "unblocked in the input's commit",
            "run wall s",
            "supervisor CPU s",
            "machine busy",
        ]
        rows_md = []
        for store, forms in latency_res.items():
            for form, r in forms.items():
                rows_md.append(
                    [
                        store,
                        f"`{form}`",
                        " / ".join(r[f"composite_p{q}"].fmt(1) for q in (50, 95, 99)),
                        r["composite_max"].fmt(1),
                        " / ".join(r[f"render_p{q}"].fmt(1) for q in (50, 95, 99)),
                        f"{r['same_commit'].median:.0%}",
                        r["wall"].fmt(1),
                        r["sup_cpu"].fmt(2),
                        f"{r['busy'].median:.0%}",
                    ]
                )
        print(
            f"(b) input completion -> dependent frame dispatch, {args.latency_frames} frames, "
            f"{args.workers} workers x {args.slots} slots, cpus {args.cpus}\n"
        )
        print(table(head, rows_md))
        print()
    print(f"median (min-max) of {args.repeat} runs")
    print(footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
