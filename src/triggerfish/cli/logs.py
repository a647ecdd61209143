"""``triggerfish logs``: the output of an agenda item (``J:NAME``) or an instance (``J.S``)."""

from __future__ import annotations

import click

from triggerfish.cli.options import connect, option, url_option
from triggerfish.cli.params import TargetType
from triggerfish.client.client import Client, Stream
from triggerfish.client.errors import ClientError
from triggerfish.client.targets import Target


def _fetch(client: Client, target: Target, stream: Stream) -> str:
    if target.work is not None:
        return client.log(target.job, target.work, stream)
    assert target.subid is not None
    return client.subjob_log(target.job, target.subid, stream)


def _echo(text: str) -> None:
    click.echo(text, nl=bool(text) and not text.endswith("\n"))


def _both(client: Client, target: Target) -> None:
    """Both streams under headers; a missing one says so, both missing is an error."""
    missing: list[ClientError] = []
    for name in ("stdout", "stderr"):
        click.echo(f"==> {target} {name} <==")
        try:
            _echo(_fetch(client, target, "stdout" if name == "stdout" else "stderr"))
        except ClientError as exc:
            if exc.status != 404:
                raise
            missing.append(exc)
            click.echo(f"({exc.message})")
    if len(missing) == 2:
        raise missing[0]


@click.command()
@click.argument("target", metavar="J:NAME|J.S", type=TargetType())
@option(
    "--stream",
    env="LOGS_STREAM",
    type=click.Choice(["stdout", "stderr", "both"]),
    default="stdout",
    show_default=True,
)
@url_option
def logs(target: Target, stream: str, url: str | None, token: str | None) -> None:
    """Print the output of an agenda item J:NAME or of an instance J.S.

    For example 12:5 (frame 5 of job 12) or 12.0 (instance 0 of job 12).
    """
    if target.work is None and target.subid is None:
        raise click.BadParameter(
            f"{target}: name an agenda item (12:5) or an instance (12.0)", param_hint="TARGET"
        )
    with connect(url, token) as client:
        if stream == "both":
            _both(client, target)
        else:
            _echo(_fetch(client, target, "stdout" if stream == "stdout" else "stderr"))
