"""``triggerfish demo``: a local farm runs a small render pipeline while you watch."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from triggerfish.cli.local import LocalFarm
from triggerfish.cli.options import option
from triggerfish.cli.output import console, fmt_duration, fmt_seconds, status_text
from triggerfish.cli.progress import follow_jobs
from triggerfish.client.client import Client
from triggerfish.client.watch import frames
from triggerfish.model.agenda import range_items

JSON = dict[str, Any]
DEMO_TIMEOUT = 45.0
STOP_GRACE = 3.0  # the demo's data is thrown away: no need to wait long for a clean stop


def pipeline(frames: str = "1-10") -> list[JSON]:
    """The seed's pipeline in one pgrp: ribgen -> render -> composite, linked frame by frame.

    render frame N waits for ribgen frame N (the ``dependency`` field); composite frame N waits
    for both, written as Qube writes it but with one pattern-variable callback instead of one
    callback per frame.
    """

    def job(label: str, sleep: str, what: str, **extra: Any) -> JSON:
        cmd = f"sleep {sleep}; echo {what} frame QB_FRAME_NUMBER of {frames}"
        out: JSON = {
            "name": label,
            "label": label,
            "cpus": 2,
            "prototype": "cmdrange",
            "package": {"cmdline": cmd, "range": frames, "chunk": 1},
            "notes": "triggerfish demo",
        }
        out.update(extra)
        return out

    composite = job(
        "composite", "0.2", "composited",
        callbacks=[{
            "triggers": "complete-work-ribgen-$f && complete-work-render-$f",
            "language": "qube",
            "code": "unblock-work-self",
        }],
    )  # fmt: skip
    composite["agenda"] = [{"name": name, "status": "blocked"} for name in range_items(frames)]
    del composite["package"]["range"]
    return [
        job("ribgen", "0.1", "generated RIB for"),
        job("render", "0.3", "rendered", dependency="link-complete-work-ribgen"),
        composite,
    ]


def frame_order_ok(events: list[JSON], ids: dict[str, int]) -> tuple[int, list[str]]:
    """Check from the event log that each composite frame started after both its inputs
    completed; returns (frames checked, problems)."""
    done: dict[tuple[int, str], int] = {}
    problems: list[str] = []
    checked = 0
    for e in events:
        if e["type"] != "work":
            continue
        key = (e["job"], e["work"])
        if e["name"] == "complete":
            done.setdefault(key, e["seq"])
        elif e["name"] == "running" and e["job"] == ids["composite"]:
            checked += 1
            for up in ("ribgen", "render"):
                seq = done.get((ids[up], e["work"]))
                if seq is None or seq > e["seq"]:
                    problems.append(f"composite frame {e['work']} started before {up}")
    return checked, problems


def summary_table(details: list[JSON]) -> Table:
    table = Table(title="what ran", title_justify="left", header_style="bold")
    for col in ("job", "label", "status", "frames", "hosts", "ran for", "mean frame"):
        table.add_column(col)
    for job in details:
        agenda = job.get("agenda") or []
        hosts = sorted({w["host"] for w in agenda if w.get("host")})
        times = [
            w["timecomplete"] - w["timestart"]
            for w in agenda
            if w.get("timestart") is not None and w.get("timecomplete") is not None
        ]
        done, total = frames(job)
        table.add_row(
            str(job["id"]),
            job.get("label") or "-",
            status_text(job.get("status")),
            f"{done}/{total}",
            ", ".join(hosts) or "-",
            fmt_duration(job.get("timestart"), job.get("timecomplete")),
            fmt_seconds(sum(times) / len(times)) if times else "-",
        )
    return table


def _show_log(out: Console, client: Client, job: JSON) -> None:
    agenda = job.get("agenda") or []
    item = next((w for w in agenda if w.get("status") == "complete"), None)
    if item is None:
        return
    target = f"{job['id']}:{item['name']}"
    text = client.log(job["id"], item["name"]).rstrip() or "(no output)"
    out.print(f"\n[bold]$ triggerfish logs {target}[/]   [dim]# on {item.get('host')}[/]")
    out.print(escape(text))


def _next_steps(out: Console) -> None:
    out.print(
        "\n[bold]what to try next[/]\n"
        "  triggerfish run                        [dim]# supervisor + 2 workers, Ctrl-C stops;[/]\n"
        "                                         [dim]# it prints the web page's address[/]\n"
        "  triggerfish submit --range 1-20 --chunk 5 -- echo frame QB_FRAME_NUMBER\n"
        "  triggerfish jobs                       [dim]# all jobs; --json for scripts[/]\n"
        "  triggerfish job 1                      [dim]# one job, its instances and frames[/]\n"
        "  triggerfish logs 1:5                   [dim]# the output of frame 5 of job 1[/]\n"
        "  triggerfish events --follow            [dim]# the live event stream[/]\n"
        "  triggerfish callbacks 3                [dim]# a job's callbacks, latches, runs[/]\n"
        "  triggerfish trigger check 'complete-work-render-$f && done-job-ribgen'"
    )


@click.command()
@option(
    "--workers",
    env="DEMO_WORKERS",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Worker processes.",
)
@option(
    "--slots",
    env="DEMO_SLOTS",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Slots of each worker.",
)
def demo(workers: int, slots: int) -> None:
    """Run a small render pipeline (ribgen → render → composite) on a throw-away local farm."""
    out = console()
    out.print(f"[bold]triggerfish demo[/]: starting a supervisor and {workers} workers…")
    with (
        LocalFarm(workers, slots, host_timeout=10.0, grace=STOP_GRACE) as farm,
        farm.client() as client,
    ):
        out.print(f"farm up at {farm.url} (data in {farm.data_dir})\n")
        submitted = client.submit(pipeline())
        out.print(
            f"submitted pgrp {submitted[0]['pgrp']}: "
            + ", ".join(f"{j['id']} {j['label']}" for j in submitted)
        )
        follow_jobs(client, submitted, out, timeout=DEMO_TIMEOUT)
        details = [client.job(j["id"]) for j in submitted]
        out.print()
        out.print(summary_table(details))
        ids = {d["label"]: d["id"] for d in details}
        checked, problems = frame_order_ok(client.all_events(), ids)
        if problems:
            out.print("[red]" + "; ".join(problems) + "[/]")
        else:
            out.print(
                f"\nchecked from the event log: each of the {checked} composite frames started "
                "only after its ribgen and render frames completed"
            )
        render = next((d for d in details if d.get("label") == "render"), details[0])
        _show_log(out, client, render)
        _next_steps(out)
        out.print("\nstopping the farm…")
    failed = [d for d in details if d.get("status") != "complete"]
    if failed:
        out.print(f"[red]{len(failed)} job(s) did not complete[/]")
        click.get_current_context().exit(1)
    out.print("[green]done[/]")
