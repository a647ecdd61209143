"""``triggerfish events``: the event log, and ``--follow`` to watch it live (long-poll)."""

from __future__ import annotations

from typing import Any

import click

from triggerfish.cli.options import connect, json_option, option, url_option
from triggerfish.cli.output import console, print_json, print_json_line
from triggerfish.cli.tables import event_line, events_table
from triggerfish.cli.wait import notice
from triggerfish.client.client import Client
from triggerfish.client.reconnect import Reconnect

LONG_POLL = 20.0


def _print_lines(events: list[dict[str, Any]], as_json: bool) -> None:
    out = console()
    for event in events:
        if as_json:
            print_json_line(event)
        else:
            out.print(event_line(event))


def _follow(client: Client, after: int, job: int | None, as_json: bool) -> None:
    """Print new events for ever; a supervisor restart is waited out (said on stderr) and
    the stream goes on from the last event printed (none is lost or shown twice)."""
    ride = Reconnect(client.url, notice)
    while True:
        batch = ride.call(client.events, after, 1000, job, LONG_POLL)
        _print_lines(batch, as_json)
        after = batch[-1]["seq"] if batch else max(after, client.last_event_seq)


@click.command()
@option(
    "--after",
    env="EVENTS_AFTER",
    type=click.IntRange(min=0),
    metavar="SEQ",
    help="Events after this seq [default: the last --limit events].",
)
@option(
    "--job",
    env="EVENTS_JOB",
    type=click.IntRange(min=1),
    metavar="ID",
    help="Only the events of this job.",
)
@option(
    "--limit",
    env="EVENTS_LIMIT",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Events shown (before following).",
)
@option(
    "--follow",
    env="EVENTS_FOLLOW",
    is_flag=True,
    help="Keep printing new events as they happen, across supervisor restarts (Ctrl-C "
    "stops; --json: one per line).",
)
@url_option
@json_option
def events(
    after: int | None,
    job: int | None,
    limit: int,
    follow: bool,
    url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Show the event log: submit, assigned, running, complete, failed, retry, ..."""
    with connect(url, token) as client:
        if after is None:
            after = max(0, client.event_head() - limit) if job is None else 0
        batch = client.events(since=after, limit=limit, job=job)
        if follow:
            _print_lines(batch, as_json)
            start = batch[-1]["seq"] if batch else max(after, client.last_event_seq)
            try:
                _follow(client, start, job, as_json)
            except KeyboardInterrupt:
                return
        elif as_json:
            print_json(batch)
        elif batch:
            console().print(events_table(batch))
        else:
            console().print("[dim]no events[/]")
