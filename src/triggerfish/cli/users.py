"""``triggerfish users``: users, worker tokens and their permissions (an admin's token)."""

from __future__ import annotations

import click
from rich.table import Table

from triggerfish.auth.permissions import USER_PERMISSIONS
from triggerfish.cli.options import connect, json_option, option, url_option
from triggerfish.cli.output import console, fmt_time, print_json
from triggerfish.client.client import JSON


@click.group()
def users() -> None:
    """Users and worker tokens (needs an admin token; the local one works on this machine)."""


def _show_token(answer: JSON, as_json: bool, what: str) -> None:
    if as_json:
        print_json(answer)
        return
    out = console()
    out.print(f"{what} [bold]{answer['name']}[/] ({', '.join(answer['permissions'])})")
    click.echo(answer["token"])
    out.print("[dim]The token is shown this once; only its hash is kept. Hand it over as "
              "TRIGGERFISH_TOKEN (or --token).[/]")  # fmt: skip


@users.command("add")
@click.argument("name")
@option("--perm", "perms", env="USERS_PERM", multiple=True,
        type=click.Choice(USER_PERMISSIONS),
        help="Permission (repeatable): submit, submit_callback (job callbacks in python, perl, "
        "exec), submit_global_callback, admin (everything).")  # fmt: skip
@option("--worker", env="USERS_WORKER", is_flag=True, default=False,
        help="Make a worker token (for 'triggerfish worker --token'), not a user.")  # fmt: skip
@url_option
@json_option
def add(
    name: str,
    perms: tuple[str, ...],
    worker: bool,
    url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Add user NAME with its permissions, or a worker token; print its token once."""
    with connect(url, token) as client:
        answer = client.add_user(name, perms, worker=worker)
    _show_token(answer, as_json, "worker token" if worker else "user")


@users.command("list")
@url_option
@json_option
def list_(url: str | None, token: str | None, as_json: bool) -> None:
    """List users and worker tokens with their permissions (never their tokens)."""
    with connect(url, token) as client:
        found = client.users()
    if as_json:
        print_json(found)
        return
    if not found:
        console().print("[dim]no users (only the local admin token)[/]")
        return
    table = Table(box=None, header_style="bold")
    for col in ("name", "kind", "permissions", "created"):
        table.add_column(col)
    for u in found:
        table.add_row(u["name"], u["kind"], ", ".join(u["permissions"]), fmt_time(u["created"]))
    console().print(table)


@users.command("remove")
@click.argument("name")
@url_option
def remove(name: str, url: str | None, token: str | None) -> None:
    """Remove user (or worker token) NAME; its token stops working at once."""
    with connect(url, token) as client:
        client.remove_user(name)
    console().print(f"removed {name}")


@users.command("token")
@click.argument("name")
@url_option
@json_option
def new_token(name: str, url: str | None, token: str | None, as_json: bool) -> None:
    """Issue a new token for NAME (the old one stops working); print it once."""
    with connect(url, token) as client:
        answer = client.new_token(name)
    _show_token(answer, as_json, "new token of")
