"""Control verbs: kill, block, unblock, retry, requeue, remove (many targets), and modify."""

from __future__ import annotations

from typing import Any

import click

from triggerfish.cli.options import connect, json_option, option, url_option
from triggerfish.cli.output import console, print_json
from triggerfish.cli.params import KeyValue, TargetType, pairs
from triggerfish.cli.tables import results_table
from triggerfish.client.targets import Target

JSON = dict[str, Any]

VERBS = {
    "kill": "Kill jobs, instances or agenda items.",
    "block": "Block jobs, instances or agenda items: they will not be dispatched.",
    "unblock": "Unblock jobs, instances or agenda items.",
    "retry": "Run failed or killed jobs, instances or agenda items again.",
    "requeue": "Put running or finished jobs, instances or agenda items back to pending.",
    "remove": "Remove jobs from the supervisor (their history goes too).",
    "preempt": "Send running items of jobs, instances or agenda items back to pending now, "
    "without counting a failed attempt (a preempt event each).",
}
# dispatch verbs (engine.verbs, docs/dispatch-verbs.md)
VERBS.update({
    "suspend": "Suspend running jobs, instances or items: SIGSTOP, slots kept, no timeout.",
    "resume": "Resume suspended jobs, instances or items (SIGCONT).",
    "interrupt": "Send running work back to pending, no failed attempt counted.",
    "migrate": "Like interrupt; the next attempt of that work avoids the host it ran on.",
    "complete": "Mark agenda items (12:5) complete without running them; a job: retire.",
    "retire": "Mark a job complete: work not started is not run, running work finishes.",
    "shove": "Dispatch a pending job first, ahead of priority, at the next free slot.",
})  # fmt: skip


def _show(results: list[JSON], as_json: bool) -> None:
    if as_json:
        print_json(results)
    else:
        console().print(results_table(results))


def control_command(action: str) -> click.Command:
    """The command of one control verb, taking one or more targets."""

    @click.argument("targets", metavar="TARGET...", nargs=-1, required=True, type=TargetType())
    @url_option
    @json_option
    def command(
        targets: tuple[Target, ...], url: str | None, token: str | None, as_json: bool
    ) -> None:
        with connect(url, token) as client:
            results = client.control(action, [str(t) for t in targets])
        _show(results, as_json)

    help_text = f"{VERBS[action]}\n\nTARGET: 12 (job), 12.0 (instance 0), 12:5 (agenda item 5)."
    return click.command(action, help=help_text)(command)


CONTROL_COMMANDS = [control_command(action) for action in VERBS]


@click.command()
@click.argument("target", metavar="TARGET", type=TargetType())
@option("--priority", env="MODIFY_PRIORITY", type=click.IntRange(1, 9999), help="New priority.")
@option("--cpus", env="MODIFY_CPUS", type=click.IntRange(min=1), help="New instance count.")
@option("--name", env="MODIFY_NAME", help="New name.")
@option(
    "--after",
    env="MODIFY_AFTER",
    metavar="TIME",
    help="Move the hold of a job submitted with --after: ISO-8601 with zone, Qube time or "
    "+DURATION (from now).",
)
@option(
    "--set",
    "settings",
    env="MODIFY_SET",
    type=KeyValue(decode=True),
    multiple=True,
    help="Any field: KEY=VALUE, VALUE decoded as JSON where it parses (repeatable).",
)
@url_option
@json_option
def modify(
    target: Target,
    priority: int | None,
    cpus: int | None,
    name: str | None,
    after: str | None,
    settings: tuple[tuple[str, Any], ...],
    url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Change fields of a job: triggerfish modify 12 --priority 10 --set notes='"hi"'."""
    fields: JSON = pairs(settings)
    given = {"priority": priority, "cpus": cpus, "name": name, "after": after}
    fields.update({k: v for k, v in given.items() if v is not None})
    if not fields:
        raise click.UsageError("give at least one of --priority, --cpus, --name, --after, --set")
    with connect(url, token) as client:
        results = client.modify(str(target), **fields)
    _show(results, as_json)
