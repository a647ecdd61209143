"""Printing: rich consoles for people, plain JSON for programs, and value formatting."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text

STATUS_STYLES = {
    "pending": "cyan",
    "blocked": "magenta",
    "waiting": "yellow",
    "running": "bold blue",
    "retrying": "yellow",
    "complete": "green",
    "failed": "bold red",
    "killed": "red",
    "suspended": "magenta",
    "removed": "dim",
    "active": "green",
    "down": "bold red",
    "disabled": "dim",
}


def console() -> Console:
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    # indented for people; compact (and several times faster) for long machine listings
    big = isinstance(data, list) and len(data) > 200
    click.echo(json.dumps(data, indent=None if big else 2, default=str))


def print_json_line(data: Any) -> None:
    click.echo(json.dumps(data, default=str))


def print_error(message: str) -> None:
    err_console().print(f"[bold red]error:[/] [red]{escape(message)}[/]", soft_wrap=True)


def print_warning(message: str) -> None:
    err_console().print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def status_text(status: str | None) -> Text:
    status = status or "-"
    return Text(status, style=STATUS_STYLES.get(status, ""))


def fmt_time(ts: float | None) -> str:
    """Local time: ``14:03:22`` today, ``2025-03-01 14:03`` otherwise."""
    if ts is None:
        return "-"
    if time.strftime("%Y%m%d", time.localtime(ts)) == time.strftime("%Y%m%d"):
        return time.strftime("%H:%M:%S", time.localtime(ts))
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_duration(start: float | None, end: float | None) -> str:
    """How long something ran, or has been running when it has no end yet."""
    if start is None:
        return "-"
    return fmt_seconds(max(0.0, (end if end is not None else time.time()) - start))


def fmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value) if value else "-"
    return str(value)
