"""Read commands: ``jobs``, ``job``, ``work``, ``hosts``."""

from __future__ import annotations

import click

from triggerfish.cli.options import connect, json_option, option, url_option
from triggerfish.cli.output import console, print_json
from triggerfish.cli.params import TargetType
from triggerfish.cli.tables import (
    PLAIN_ABOVE,
    agenda_table,
    hosts_table,
    job_summary,
    jobs_plain,
    jobs_table,
    subjobs_table,
    work_details,
)
from triggerfish.client.targets import Target


@click.command()
@option("--status", env="JOBS_STATUS", help="Only jobs in these statuses (comma-separated).")
@option("--pgrp", env="JOBS_PGRP", type=int, help="Only jobs of this process group.")
@option("--label", env="JOBS_LABEL", help="Only jobs with this label.")
@option("--user", env="JOBS_USER", help="Only jobs of this user.")
@option("--name", env="JOBS_NAME", help="Only jobs with this name ('*' matches anything).")
@option("--limit", env="JOBS_LIMIT", type=click.IntRange(min=1), default=1000, show_default=True)
@option("--offset", env="JOBS_OFFSET", type=click.IntRange(min=0), default=0, show_default=True)
@url_option
@json_option
def jobs(
    status: str | None,
    pgrp: int | None,
    label: str | None,
    user: str | None,
    name: str | None,
    limit: int,
    offset: int,
    url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """List jobs, oldest first."""
    with connect(url, token) as client:
        found = client.jobs(
            status=status,
            pgrp=pgrp,
            label=label,
            user=user,
            name=name,
            limit=limit,
            offset=offset,
        )
    if as_json:
        print_json(found)
    elif not found:
        console().print("[dim]no jobs[/]")
    elif len(found) > PLAIN_ABOVE:
        click.echo(jobs_plain(found))
    else:
        console().print(jobs_table(found))


@click.command()
@click.argument("job_id", metavar="ID", type=click.IntRange(min=1))
@option(
    "--agenda/--no-agenda",
    env="JOB_AGENDA",
    default=True,
    show_default=True,
    help="Show the agenda (frames).",
)
@option(
    "--agenda-limit",
    env="JOB_AGENDA_LIMIT",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Agenda items shown (0: all; --json prints all).",
)
@url_option
@json_option
def job(
    job_id: int,
    agenda: bool,
    agenda_limit: int,
    url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Show one job: its fields, instances and agenda."""
    limit = None if as_json or agenda_limit == 0 else agenda_limit
    with connect(url, token) as client:  # (a long agenda is read a page at a time)
        detail = client.job(job_id, agenda=agenda, agenda_limit=limit)
    if as_json:
        print_json(detail)
        return
    out = console()
    out.print(job_summary(detail))
    if detail.get("subjobs"):
        out.print()
        out.print(subjobs_table(detail["subjobs"]))
    if agenda and detail.get("agenda"):
        out.print()
        out.print(agenda_table(detail["agenda"], agenda_limit, total=detail.get("todo")))


@click.command()
@click.argument("target", metavar="JOB:NAME", type=TargetType())
@url_option
@json_option
def work(target: Target, url: str | None, token: str | None, as_json: bool) -> None:
    """Show one agenda item: 12:5, 12:1-10, ..."""
    if target.work is None:
        raise click.BadParameter(f"{target}: expected JOB:NAME, e.g. 12:5", param_hint="JOB:NAME")
    with connect(url, token) as client:
        item = client.work(target.job, target.work)
    if as_json:
        print_json(item)
    else:
        console().print(work_details(item))


@click.command()
@url_option
@json_option
def hosts(url: str | None, token: str | None, as_json: bool) -> None:
    """List the hosts (workers) known to the supervisor."""
    with connect(url, token) as client:
        found = client.hosts()
    if as_json:
        print_json(found)
    elif not found:
        console().print(
            "[dim]no hosts: start one with 'triggerfish worker' or 'triggerfish run'[/]"
        )
    else:
        console().print(hosts_table(found))
