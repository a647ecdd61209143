"""``triggerfish wait``: block until jobs end; exit 0 only if all of them completed.

A supervisor restart is waited out (said once on stderr). Jobs that can no longer finish by
themselves (blocked behind a failed upstream, or a job that does not exist) end the wait
too: each is named with why, and the exit code is 1.
"""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from triggerfish.cli.options import connect, json_option, option, url_option
from triggerfish.cli.output import console, err_console, print_json, status_text
from triggerfish.client.errors import CannotFinish


def notice(message: str) -> None:
    """A client's word about the supervisor going away and coming back, on stderr."""
    err_console().print(f"[yellow]{escape(message)}[/]", soft_wrap=True)


def print_stuck(stuck: dict[int, str]) -> None:
    """One line on stderr per job that cannot finish, with why."""
    out = err_console()
    for jid, why in stuck.items():
        out.print(f"[red]cannot finish:[/] job {jid}: {escape(why)}", soft_wrap=True)


@click.command()
@click.argument("ids", metavar="ID...", nargs=-1, required=True, type=click.IntRange(min=1))
@option(
    "--timeout",
    env="WAIT_TIMEOUT",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Give up (exit 1) after this long [default: wait forever].",
)
@url_option
@json_option
def wait(
    ids: tuple[int, ...], timeout: float | None, url: str | None, token: str | None, as_json: bool
) -> None:
    """Wait until the jobs are complete, failed or killed; exit 0 iff all completed.

    Rides through a restart of the supervisor. Jobs that can no longer finish by themselves
    (behind a failed upstream, or a job that does not exist) end the wait: named on stderr
    with the reason, exit 1.
    """
    stuck: dict[int, str] = {}
    with connect(url, token) as client:
        try:
            statuses = client.wait(list(ids), timeout=timeout, notify=notice)
        except CannotFinish as exc:
            statuses, stuck = exc.statuses, exc.stuck
    if as_json:
        print_json({str(i): s for i, s in statuses.items()})
    else:
        table = Table(box=None, show_header=False, pad_edge=False)
        for jid, status in statuses.items():
            table.add_row(str(jid), status_text(status), escape(stuck.get(jid, "")))
        console().print(table)
    print_stuck(stuck)
    if stuck or any(s != "complete" for s in statuses.values()):
        click.get_current_context().exit(1)
