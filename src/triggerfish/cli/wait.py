"""``triggerfish wait``: block until jobs end; exit 0 only if all of them completed."""

from __future__ import annotations

import click
from rich.table import Table

from triggerfish.cli.options import connect, json_option, option, url_option
from triggerfish.cli.output import console, print_json, status_text


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
    """Wait until the jobs are complete, failed or killed; exit 0 iff all completed."""
    with connect(url, token) as client:
        statuses = client.wait(list(ids), timeout=timeout)
    if as_json:
        print_json({str(i): s for i, s in statuses.items()})
    else:
        table = Table(box=None, show_header=False, pad_edge=False)
        for jid, status in statuses.items():
            table.add_row(str(jid), status_text(status))
        console().print(table)
    if any(s != "complete" for s in statuses.values()):
        click.get_current_context().exit(1)
