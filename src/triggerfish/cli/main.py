"""The ``triggerfish`` command group; errors of triggerfish become a red message and exit 1."""

from __future__ import annotations

import logging
from typing import Any

import click

from triggerfish import __version__, logfmt
from triggerfish.cli.callbacks import add_callback, callbacks, remove_callback, trigger
from triggerfish.cli.control import CONTROL_COMMANDS, modify
from triggerfish.cli.daemons import supervisor, worker
from triggerfish.cli.demo import demo
from triggerfish.cli.events import events
from triggerfish.cli.host import host
from triggerfish.cli.logs import logs
from triggerfish.cli.output import print_error
from triggerfish.cli.query import hosts, job, jobs, work
from triggerfish.cli.resources import resources
from triggerfish.cli.run import run
from triggerfish.cli.submit import submit
from triggerfish.cli.tasks import tasks
from triggerfish.cli.users import users
from triggerfish.cli.wait import wait
from triggerfish.errors import TriggerfishError


class TriggerfishGroup(click.Group):
    """Prints a TriggerfishError as a message on stderr and exits 1 (click exits 2 on misuse);
    as a log line when the command logs in JSON (``--log-format json``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TriggerfishError as exc:
            if logfmt.configured_format() == "json":
                logging.getLogger("triggerfish.cli").error(
                    exc.message, extra={"action": "exit", "code": exc.code, "field": exc.field}
                )
            else:
                print_error(exc.message)
            ctx.exit(1)


@click.group(cls=TriggerfishGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="triggerfish")
def cli() -> None:
    """triggerfish: a job supervisor for render farms and background work.

    Start with 'triggerfish demo', or 'triggerfish run' for a farm on this machine.
    """


for command in [
    submit,
    jobs,
    job,
    work,
    hosts,
    host,
    resources,
    events,
    logs,
    wait,
    *CONTROL_COMMANDS,
    modify,
    callbacks,
    add_callback,
    remove_callback,
    trigger,
    tasks,
    users,
    supervisor,
    worker,
    run,
    demo,
]:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="triggerfish")
