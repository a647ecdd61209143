"""``triggerfish resources``: the supervisor's global resources (license pools).

Jobs take them with ``reservations: global.NAME=N`` while an instance runs
(docs/dispatch-resources.md). Listing needs any token; ``set`` and ``remove`` an admin one.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from triggerfish.cli.options import connect, json_option, url_option
from triggerfish.cli.output import console, fmt_time, print_json


def resources_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("resource", "total", "used", "available", "changed by", "changed"):
        table.add_column(col, justify="right" if col in ("total", "used", "available") else "left")
    for r in rows:
        table.add_row(
            r["name"], str(r["total"]), str(r["used"]), str(r["available"]),
            r.get("changed_by") or "-", fmt_time(r.get("changed_at")),
        )  # fmt: skip
    return table


@click.group(invoke_without_command=True)
@url_option
@json_option
@click.pass_context
def resources(ctx: click.Context, url: str | None, token: str | None, as_json: bool) -> None:
    """List the global resources (licenses) with what running work uses of each.

    'resources set NAME COUNT' defines one or changes it live; 'resources remove NAME'
    forgets one that nothing uses. Jobs take them with reservations 'global.NAME=1'.
    """
    if ctx.invoked_subcommand is not None:
        return
    with connect(url, token) as client:
        found = client.resources()
    if as_json:
        print_json(found)
    elif not found:
        console().print(
            "[dim]no global resources: define one with 'triggerfish resources set maya 5' "
            "or 'triggerfish supervisor --resource maya=5'[/]"
        )
    else:
        console().print(resources_table(found))


@resources.command("set")
@click.argument("name")
@click.argument("count", type=click.IntRange(0, 10**9))
@url_option
@json_option
def set_(name: str, count: int, url: str | None, token: str | None, as_json: bool) -> None:
    """Define global resource NAME with COUNT, or change its count live (admin).

    Work waiting for it starts at once; a count below what is in use stops new work only.
    """
    with connect(url, token) as client:
        r = client.set_resource(name, count)
    if as_json:
        print_json(r)
    else:
        console().print(f"{r['name']}: {r['total']} ({r['used']} in use, {r['available']} free)")


@resources.command("remove")
@click.argument("name")
@url_option
@json_option
def remove(name: str, url: str | None, token: str | None, as_json: bool) -> None:
    """Forget global resource NAME (admin); no running work may use it."""
    with connect(url, token) as client:
        r = client.remove_resource(name)
    if as_json:
        print_json(r)
    else:
        console().print(f"removed global resource {r['name']}")
