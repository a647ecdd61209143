"""``triggerfish logs``: the output of an agenda item (``J:NAME``) or an instance (``J.S``)."""

from __future__ import annotations

import click

from triggerfish.cli.options import connect, option, url_option
from triggerfish.cli.params import TargetType
from triggerfish.client.client import Client, Stream
from triggerfish.client.logs import LogFollower, LogPage
from triggerfish.client.targets import Target

STREAMS: dict[str, tuple[Stream, ...]] = {
    "stdout": ("stdout",),
    "stderr": ("stderr",),
    "both": ("stdout", "stderr"),
}


def _header(target: Target, stream: str) -> str:
    return f"==> {target} {stream} <=="


def _read(client: Client, target: Target, stream: Stream) -> tuple[str, LogPage]:
    """The whole log of ``stream`` and its last page (the item's status)."""
    page = client.log_page(target.job, target.work, target.subid, stream)
    parts = [page.text]
    while page.more:
        page = client.log_page(target.job, target.work, target.subid, stream, page.end)
        parts.append(page.text)
    return "".join(parts), page


def _echo(text: str) -> None:
    click.echo(text, nl=not text.endswith("\n"))


def _show(client: Client, target: Target, streams: tuple[Stream, ...]) -> None:
    """What the item printed so far; each stream under a header when there are two."""
    read = [(stream, *_read(client, target, stream)) for stream in streams]
    if not any(text for _, text, _ in read):
        where = "" if len(streams) > 1 else f" to {streams[0]}"
        yet = "" if read[-1][2].ended else " yet"
        click.echo(f"item {target} printed nothing{where}{yet}", err=True)
        return
    for stream, text, _ in read:
        if len(streams) > 1:
            if not text:
                continue
            click.echo(_header(target, stream))
        _echo(text)


def _follow(client: Client, target: Target, streams: tuple[Stream, ...]) -> None:
    """Print output as it arrives until the item ends; a header whenever the stream changes."""
    follower = LogFollower(
        client, target.job, target.work, target.subid, streams,
        note=lambda msg: click.echo(msg, err=True),
    )  # fmt: skip
    last: str | None = None
    line_start = True  # (a header goes on a line of its own)
    out = click.get_text_stream("stdout")
    for stream, text in follower:
        if len(streams) > 1 and stream != last:
            out.write(("" if line_start else "\n") + _header(target, stream) + "\n")
        out.write(text)
        out.flush()
        line_start = text.endswith("\n")
        last = stream


@click.command()
@click.argument("target", metavar="J:NAME|J.S", type=TargetType())
@option(
    "--stream",
    env="LOGS_STREAM",
    type=click.Choice(list(STREAMS)),
    default="both",
    show_default=True,
    help="Which output to show; both: stdout, then stderr, each under a header.",
)
@option(
    "--follow",
    "-f",
    env="LOGS_FOLLOW",
    is_flag=True,
    default=False,
    help="Keep printing new output until the item ends (waits for one not started yet), "
    "then exit 0.",
)
@url_option
def logs(target: Target, stream: str, follow: bool, url: str | None, token: str | None) -> None:
    """Print the output of an agenda item J:NAME or of an instance J.S.

    For example 12:5 (frame 5 of job 12) or 12.0 (instance 0 of job 12). Each attempt's
    output starts with a line '=== attempt TOKEN on HOST at TIME ==='. Fails (exit 1) for a
    job or item that does not exist, and for an item that has not started yet (unless
    --follow); an item that ran and printed nothing says so on stderr (exit 0).
    """
    if target.work is None and target.subid is None:
        raise click.BadParameter(
            f"{target}: name an agenda item (12:5) or an instance (12.0)", param_hint="TARGET"
        )
    with connect(url, token) as client:
        if follow:
            _follow(client, target, STREAMS[stream])
        else:
            _show(client, target, STREAMS[stream])
