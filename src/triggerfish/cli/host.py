"""``triggerfish host``: act on one host (needs an admin token; the local one works on this
machine). ``triggerfish hosts`` lists them."""

from __future__ import annotations

from typing import Any

import click

from triggerfish.cli.options import connect, json_option, url_option
from triggerfish.cli.output import console, print_json


@click.group()
def host() -> None:
    """Act on one host: lock or unlock it, mark it down, forget it (needs an admin token)."""


@host.command("down")
@click.argument("name")
@url_option
@json_option
def down(name: str, url: str | None, token: str | None, as_json: bool) -> None:
    """Mark host NAME down now (its worker is dead): its running work goes to other hosts.

    A worker that still lives is up again at its next call, its old attempts cancelled.
    """
    with connect(url, token) as client:
        answer = client.host_down(name)
    _show(answer, as_json, f"host {name} is down; its running work went back to pending")


@host.command("remove")
@click.argument("name")
@url_option
@json_option
def remove(name: str, url: str | None, token: str | None, as_json: bool) -> None:
    """Forget host NAME. It must be down and hold no work (stop its worker first, or mark it
    down); a worker of that name that starts again registers as a new host."""
    with connect(url, token) as client:
        answer = client.remove_host(name)
    _show(answer, as_json, f"removed host {name}")


@host.command("lock")
@click.argument("name")
@url_option
@json_option
def lock(name: str, url: str | None, token: str | None, as_json: bool) -> None:
    """Lock host NAME: no new work goes to it; what runs on it finishes.

    The lock is stored: it holds across restarts of the supervisor and of the worker until
    'triggerfish host unlock NAME'.
    """
    with connect(url, token) as client:
        answer = client.lock_host(name)
    running = len(answer.get("running") or []) or answer.get("used", 0)
    tail = f"; {running} running item(s) finish there" if running else ""
    _show(answer, as_json, f"host {name} is locked: no new work goes to it{tail}")


@host.command("unlock")
@click.argument("name")
@url_option
@json_option
def unlock(name: str, url: str | None, token: str | None, as_json: bool) -> None:
    """Unlock host NAME: it gets work again."""
    with connect(url, token) as client:
        answer = client.unlock_host(name)
    _show(answer, as_json, f"host {name} is unlocked: it gets work again")


def _show(answer: dict[str, Any], as_json: bool, text: str) -> None:
    """The API's answer as JSON (``--json``), else a line for people."""
    if as_json:
        print_json(answer)
    else:
        console().print(text)
