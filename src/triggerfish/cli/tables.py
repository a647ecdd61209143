"""Rich renderings of the API's objects: jobs, a job's details, work, hosts, events."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from triggerfish.cli.output import (
    fmt_duration,
    fmt_time,
    fmt_value,
    status_text,
)
from triggerfish.client.watch import frames

JSON = dict[str, Any]


def _frames_cell(job: JSON) -> str:
    if not job.get("todo"):
        return "-"
    done = int((job.get("todotally") or {}).get("complete", 0))
    return f"{done}/{job['todo']}"


def jobs_table(jobs: list[JSON]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("id", "pgrp", "label", "name", "user", "prio", "status", "frames"):
        table.add_column(col, justify="right" if col in ("id", "pgrp", "prio") else "left")
    for job in jobs:
        table.add_row(
            str(job["id"]),
            str(job.get("pgrp", "-")),
            job.get("label") or "-",
            job.get("name") or "-",
            job.get("user") or "-",
            str(job.get("priority", "-")),
            status_text(job.get("status")),
            _frames_cell(job),
        )
    return table


JOB_COLUMNS = ("id", "pgrp", "label", "name", "user", "prio", "status", "frames")
PLAIN_ABOVE = 200  # rows: past this many, a table is printed as plain text (fast)


def jobs_plain(jobs: list[JSON]) -> str:
    """The jobs table as plain aligned text: what a long listing needs to print fast."""
    rows = [
        (
            str(job["id"]),
            str(job.get("pgrp", "-")),
            job.get("label") or "-",
            job.get("name") or "-",
            job.get("user") or "-",
            str(job.get("priority", "-")),
            str(job.get("status", "-")),
            _frames_cell(job),
        )
        for job in jobs
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(JOB_COLUMNS)]
    right = {0, 1, 5}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(JOB_COLUMNS), *(line(r) for r in rows)])


def key_values(rows: list[tuple[str, Any]]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else fmt_value(value))
    return table


def _tally(job: JSON) -> str:
    tally = {k: v for k, v in (job.get("todotally") or {}).items() if v}
    return ", ".join(f"{k} {v}" for k, v in tally.items()) or "-"


def job_summary(job: JSON) -> Table:
    done, total = frames(job)
    pkg = job.get("package") or {}
    rows: list[tuple[str, Any]] = [
        ("job", f"{job['id']}  {job.get('name') or ''}".rstrip()),
        ("status", status_text(job.get("status"))),
        ("reason", job.get("reason") or None),
        ("cannot finish", job.get("stuck") or None),
        ("label / pgrp / pid", f"{job.get('label')} / {job.get('pgrp')} / {job.get('pid') or '-'}"),
        ("user", job.get("user")),
        ("priority", job.get("priority")),
        ("prototype", job.get("prototype")),
        ("cpus", job.get("cpus")),
        ("command", pkg.get("cmdline")),
        ("range / chunk", f"{pkg['range']} / {pkg.get('chunk', 1)}" if "range" in pkg else None),
        ("agenda", f"{done}/{total} ended ({_tally(job)})" if job.get("todo") else None),
        ("submitted", fmt_time(job.get("timesubmit"))),
        ("started", fmt_time(job.get("timestart"))),
        ("completed", fmt_time(job.get("timecomplete"))),
        ("ran for", fmt_duration(job.get("timestart"), job.get("timecomplete"))),
    ]
    for key, value in sorted((job.get("fields") or {}).items()):
        if value:  # leave out fields at their empty defaults
            rows.append((key, value))
    return key_values([(k, v) for k, v in rows if v is not None])


def subjobs_table(subjobs: list[JSON]) -> Table:
    table = Table(title="instances", title_justify="left", box=None, header_style="bold")
    for col in ("instance", "status", "host", "retry", "running", "started", "ran for"):
        table.add_column(col)
    for sub in subjobs:
        table.add_row(
            sub["id"],
            status_text(sub.get("status")),
            sub.get("host") or "-",
            str(sub.get("retry", 0)),
            sub.get("work") or "-",
            fmt_time(sub.get("timestart")),
            fmt_duration(sub.get("timestart"), sub.get("timecomplete")),
        )
    return table


def agenda_table(agenda: list[JSON], limit: int = 50, total: int | None = None) -> RenderableType:
    """The agenda (of ``total`` items, ``agenda`` being its first ones); past ``limit`` items
    (0: no limit) it is cut, with a note saying so."""
    shown = agenda if limit <= 0 else agenda[:limit]
    total = max(total or 0, len(agenda))
    table = Table(title="agenda", title_justify="left", box=None, header_style="bold")
    for col in ("work", "status", "instance", "host", "retry", "exit", "started", "ran for"):
        table.add_column(col)
    for item in shown:
        table.add_row(
            item["name"],
            status_text(item.get("status")),
            "-" if item.get("subid") is None else str(item["subid"]),
            item.get("host") or "-",
            str(item.get("retry", 0)),
            fmt_value(item.get("exit_code")),
            fmt_time(item.get("timestart")),
            fmt_duration(item.get("timestart"), item.get("timecomplete")),
        )
    if len(shown) == total:
        return table
    note = Text(
        f"… {total - len(shown)} more of {total} items "
        "(--agenda-limit 0 shows all, --json prints them all)",
        style="dim",
    )
    return Group(table, note)


def work_details(item: JSON) -> Table:
    return key_values(
        [
            ("work", item["id"]),
            ("status", status_text(item.get("status"))),
            ("instance", item.get("subid")),
            ("host", item.get("host")),
            ("retry", item.get("retry", 0)),
            ("exit code", item.get("exit_code")),
            ("package", item.get("package") or None),
            ("result", item.get("result") or None),
            ("started", fmt_time(item.get("timestart"))),
            ("completed", fmt_time(item.get("timecomplete"))),
            ("ran for", fmt_duration(item.get("timestart"), item.get("timecomplete"))),
        ]
    )


# properties every worker reports of itself: ``hosts`` shows them in brief, not one by one
DETECTED = frozenset({"os", "os_release", "arch", "cores", "memory", "gpus", "python",
                      "triggerfish"})  # fmt: skip


def host_lock(host: JSON) -> str:
    """``locked by NAME``, ``check failed: WHY`` (its worker's ``--check``), both, or ``-``."""
    parts = []
    if host.get("locked"):
        parts.append(f"locked by {host['locked_by']}" if host.get("locked_by") else "locked")
    if host.get("check"):
        parts.append(f"check failed: {host['check']}")
    return "; ".join(parts) or "-"


def host_props(host: JSON) -> str:
    """``linux 41000/64000 MB gpu=a100 site=lon jobtypes=maya,nuke``: OS, available / total
    memory (MB), the worker's own properties (``--property``) and the job types it runs."""
    facts = host.get("facts") or {}
    props = host.get("properties") or {}
    parts = [str(facts.get("host.os") or props.get("os") or "")]
    if facts.get("host.memory"):
        parts.append(f"{facts.get('host.memory.avail', 0)}/{facts['host.memory']} MB")
    parts += [f"{k}={v}" for k, v in sorted(props.items()) if k not in DETECTED]
    if host.get("jobtypes"):
        parts.append("jobtypes=" + ",".join(host["jobtypes"]))
    return " ".join(p for p in parts if p) or "-"


def hosts_table(hosts: list[JSON]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    cols = ("host", "state", "slots", "used", "lock / check", "properties", "groups", "cluster",
            "last seen")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="right" if col in ("slots", "used") else "left")
    for host in hosts:
        table.add_row(
            host["name"],
            status_text(host.get("state")),
            str(host.get("slots", "-")),
            str(host.get("used", 0)),
            Text(host_lock(host)),
            Text(host_props(host)),
            ",".join(host.get("groups") or []) or "-",
            host.get("cluster") or "-",
            fmt_time(host.get("last_seen")),
        )
    return table


def event_subject(event: JSON) -> str:
    """``12``, ``12.0`` or ``12:5``: what the event is about (a host for host events)."""
    if event.get("job") is None:
        return event.get("host") or "-"
    if event.get("work") is not None:
        return f"{event['job']}:{event['work']}"
    if event.get("subid") is not None:
        return f"{event['job']}.{event['subid']}"
    return str(event["job"])


def event_line(event: JSON) -> Text:
    """One line of ``events --follow``: seq, time, name-type, subject, host, data."""
    line = Text()
    line.append(f"{event['seq']:>7} ", style="dim")
    line.append(fmt_time(event.get("time")) + " ")
    line.append(f"{event['name']}-{event['type']}", style=_event_style(event["name"]))
    line.append(f" {event_subject(event)}")
    if event.get("host") and event.get("job") is not None:
        line.append(f" on {event['host']}", style="dim")
    if event.get("data"):
        line.append(f" {fmt_value(event['data'])}", style="dim")
    return line


def _event_style(name: str) -> str:
    return STATUS_OF_EVENT.get(name, "")


STATUS_OF_EVENT = {
    "complete": "green",
    "failed": "bold red",
    "killed": "red",
    "retry": "yellow",
    "running": "blue",
    "down": "bold red",
    "up": "green",
}


def events_table(events: list[JSON]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("seq", "time", "event", "subject", "host", "data"):
        table.add_column(col, justify="right" if col == "seq" else "left")
    for event in events:
        table.add_row(
            str(event["seq"]),
            fmt_time(event.get("time")),
            Text(f"{event['name']}-{event['type']}", style=_event_style(event["name"])),
            event_subject(event),
            event.get("host") or "-",
            fmt_value(event.get("data") or None),
        )
    return table


def results_table(results: list[JSON]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("target")
    table.add_column("status")
    for res in results:
        table.add_row(str(res["target"]), status_text(res.get("status")))
    return table
