"""``triggerfish tasks``: recurring schedules (next run, last run, last result), tasks, and
the verbs to add, pause, resume and remove them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from triggerfish.cli.options import connect, json_option, option, url_option
from triggerfish.cli.output import console, fmt_time, fmt_value, print_json, status_text
from triggerfish.tasks.api import TaskFailed, Tasks, schedule_id


def _short(text: str, width: int = 36) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def schedules_table(schedules: list[dict[str, Any]]) -> Table:
    """One line per recurring task; policy, runs and skipped periods are in ``--json``."""
    table = Table(box=None, header_style="bold", pad_edge=False, title="recurring tasks")
    width = max((len(s["target"]) + len(s.get("key") or "") + 3 for s in schedules), default=6)
    table.add_column("id", no_wrap=True)
    table.add_column("target [key]", no_wrap=True, min_width=min(width, 40))
    for col in ("every", "next run", "last run"):
        table.add_column(col, no_wrap=True)
    table.add_column("last result")
    for s in schedules:
        nxt = "paused" if s["paused"] else fmt_time(s.get("next_run"))
        status = s.get("last_status")
        last = s.get("last_error") if status in ("failed", "killed") else s.get("last_result")
        shown = "-" if status is None else _short(f"{status}: {fmt_value(last)}")
        target = escape(s["target"] + (f" [{s['key']}]" if s.get("key") else ""))
        table.add_row(f"r{s['id']}", target, f"{s['every']:g}s", nxt,
                      fmt_time(s.get("last_run")), shown)  # fmt: skip
    return table


def tasks_table(tasks: list[dict[str, Any]], title: str) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, title=title)
    table.add_column("id", no_wrap=True)
    table.add_column("target", no_wrap=True, min_width=min(40, max(
        (len(t["target"]) for t in tasks), default=6)))  # fmt: skip
    for col in ("status", "ended"):
        table.add_column(col, no_wrap=True)
    table.add_column("result / error")
    for t in tasks:
        shown = t.get("error") if t["status"] in ("failed", "killed") else t.get("result")
        table.add_row(str(t["id"]), t["target"], status_text(t["status"]),
                      fmt_time(t.get("timecomplete")), _short(fmt_value(shown)))  # fmt: skip
    return table


@click.group(invoke_without_command=True)
@option("--all", "show_all", env="TASKS_ALL", is_flag=True, default=False,
        help="List finished tasks too (the last 50).")  # fmt: skip
@url_option
@json_option
@click.pass_context
def tasks(ctx: click.Context, show_all: bool, url: str | None, token: str | None,
          as_json: bool) -> None:  # fmt: skip
    """Background tasks: recurring schedules (next run, last run, last result) and tasks not
    finished yet. Subcommands add, pause, resume and remove them."""
    if ctx.invoked_subcommand is not None:
        return
    with connect(url, token) as client:
        schedules = client.schedules()
        listed = client.tasks(status=None if show_all else "active", limit=50)
    if as_json:
        print_json({"schedules": schedules, "tasks": listed})
        return
    out = console()
    if schedules:
        out.print(schedules_table(schedules))
    else:
        out.print("[dim]no recurring tasks[/]")
    if listed:
        out.print(tasks_table(listed, "tasks" if show_all else "tasks not finished"))
    else:
        out.print("[dim]no tasks" + ("" if show_all else " waiting or running") + "[/]")


def _params(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="PARAMS") from None


def _time(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected ISO-8601 (2026-12-01T18:00+01:00) or seconds since the epoch",
            param_hint=name,
        ) from None


@tasks.command("add")
@click.argument("target")
@click.argument("params", required=False)
@option("--at", env="TASK_AT", metavar="TIME",
        help="Run once, not before TIME (ISO-8601; no zone: local time).")  # fmt: skip
@option("--every", env="TASK_EVERY", type=click.FloatRange(min=0.1), metavar="SECONDS",
        help="Run again every SECONDS (a recurring task, unique by target and --key).")  # fmt: skip
@option("--start", env="TASK_START", metavar="TIME",
        help="The first run of a recurring task [default: now].")  # fmt: skip
@option("--key", env="TASK_KEY", help="Tells apart recurring tasks of the same target.")
@option("--policy", env="TASK_POLICY", type=click.Choice(["skip", "queue", "allow"]),
        default="skip", show_default=True,
        help="A period that comes while the last run still goes: skip it, queue one run, or "
        "allow both.")  # fmt: skip
@option("--retries", env="TASK_RETRIES", type=click.IntRange(0, 1000), default=None,
        help="Attempts after a failure.")  # fmt: skip
@option("--timeout", env="TASK_TIMEOUT", type=click.FloatRange(min=0, min_open=True),
        default=None, metavar="SECONDS", help="Kill an attempt after SECONDS.")  # fmt: skip
@url_option
@json_option
def add(target: str, params: str | None, at: str | None, every: float | None, start: str | None,
        key: str | None, policy: str, retries: int | None, timeout: float | None,
        url: str | None, token: str | None, as_json: bool) -> None:  # fmt: skip
    """Add a task: run TARGET ('package.module:function') with PARAMS (JSON) on a worker."""
    if every is None and (start is not None or key is not None):
        raise click.UsageError("--start and --key belong to recurring tasks (--every)")
    if every is not None and at is not None:
        raise click.UsageError("give --at (once) or --every (recurring), not both")
    value = _params(params)
    with connect(url, token) as client:
        api = Tasks(client)
        opts: dict[str, Any] = {"retries": retries, "timeout": timeout}
        if every is not None:
            added: Any = api.add_recurring(
                target, value, every=every, start=_time(start, "--start"), key=key,
                policy=policy, **opts,  # type: ignore[arg-type]
            )  # fmt: skip
        elif at is not None:
            added = api.add_scheduled(target, value, at=_time(at, "--at") or 0.0, **opts)
        else:
            added = api.add(target, value, **opts)
    if as_json:
        print_json({"id": added})
    else:
        click.echo(added)


@tasks.command("show")
@click.argument("task_id", type=int)
@option("--wait", "wait_for", env="TASK_WAIT", type=click.FloatRange(min=0), default=None,
        metavar="SECONDS", help="Wait up to SECONDS for the task to end first.")  # fmt: skip
@url_option
@json_option
def show(task_id: int, wait_for: float | None, url: str | None, token: str | None,
         as_json: bool) -> None:  # fmt: skip
    """Show a task: status, result, or error and traceback (exit 1 if it failed)."""
    with connect(url, token) as client:
        api = Tasks(client)
        info = api.wait(task_id, wait_for) if wait_for is not None else api.get(task_id)
    if as_json:
        print_json(info)
    else:
        out = console()
        out.print(f"task {info['id']} [bold]{info['target']}[/] ", status_text(info["status"]))
        for k in ("host", "retry"):
            out.print(f"  {k}: {fmt_value(info.get(k))}")
        out.print(
            f"  submitted {fmt_time(info.get('timesubmit'))}, started "
            f"{fmt_time(info.get('timestart'))}, ended {fmt_time(info.get('timecomplete'))}"
        )
        if info["status"] == "complete":
            out.print(f"  result: {json.dumps(info.get('result'))}")
        elif info.get("error"):
            out.print(f"  [red]error: {info['error']}[/]")
            if info.get("traceback"):
                click.echo(info["traceback"].rstrip())
    if info["status"] in ("failed", "killed"):
        raise TaskFailed(f"task {task_id} {info['status']}", task=task_id, status=info["status"])


def _schedule_arg(value: str) -> int:
    number = schedule_id(value)
    if number is None:
        raise click.BadParameter(f"{value!r} is not a recurring task id (r12)", param_hint="ID")
    return number


@tasks.command("pause")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@url_option
def pause(ids: tuple[str, ...], url: str | None, token: str | None) -> None:
    """Pause recurring tasks (r12 ...): no run until resumed."""
    numbers = [_schedule_arg(i) for i in ids]
    with connect(url, token) as client:
        for n in numbers:
            client.schedule_action(n, "pause")


@tasks.command("resume")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@url_option
def resume(ids: tuple[str, ...], url: str | None, token: str | None) -> None:
    """Resume recurring tasks (r12 ...) at the next point of their grid."""
    numbers = [_schedule_arg(i) for i in ids]
    with connect(url, token) as client:
        for n in numbers:
            client.schedule_action(n, "resume")


@tasks.command("remove")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@url_option
def remove(ids: tuple[str, ...], url: str | None, token: str | None) -> None:
    """Remove tasks (12, killed if running) or recurring tasks (r12)."""
    for i in ids:
        if schedule_id(i) is None and not i.isdigit():
            raise click.BadParameter(f"{i!r} is not a task id (12) or recurring id (r12)",
                                     param_hint="ID")  # fmt: skip
    with connect(url, token) as client:
        api = Tasks(client)
        for i in ids:
            api.remove(i if schedule_id(i) is not None else int(i))
