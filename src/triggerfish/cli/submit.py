"""``triggerfish submit``: qbsub-style submission of one job built from options, or of a file."""

from __future__ import annotations

import sys
from typing import Any

import click

from triggerfish.cli.jobbuild import JobOptions, build_job, login_name, with_defaults
from triggerfish.cli.jobfile import load_jobs_file
from triggerfish.cli.options import connect, json_option, option, url_option
from triggerfish.cli.output import err_console, print_json, print_warning
from triggerfish.cli.params import CommaList, KeyValue, pairs
from triggerfish.cli.progress import follow_jobs
from triggerfish.cli.wait import notice, print_stuck
from triggerfish.client.client import Client
from triggerfish.client.errors import CannotFinish
from triggerfish.client.watch import JobWatcher

JSON = dict[str, Any]


def _submit_options(f: Any) -> Any:
    opts = [
        option("--name", env="SUBMIT_NAME", help="Job name [default: the command's name]."),
        option(
            "--range",
            "frame_range",
            env="SUBMIT_RANGE",
            metavar="RANGE",
            help="Frames: '1-100', '1-100x2', '1,3,5-9'. Makes a cmdrange job.",
        ),
        option(
            "--chunk",
            env="SUBMIT_CHUNK",
            type=click.IntRange(min=1),
            help="Frames per agenda item [default: 1].",
        ),
        option(
            "--cpus",
            env="SUBMIT_CPUS",
            type=click.IntRange(min=1),
            help="Instances run in parallel [default: 1].",
        ),
        option(
            "--priority",
            env="SUBMIT_PRIORITY",
            type=click.IntRange(1, 9999),
            help="1 is most urgent [default: 9999].",
        ),
        option("--label", env="SUBMIT_LABEL", help="Label, unique in the pgrp."),
        option("--pgrp", env="SUBMIT_PGRP", type=int, help="Join this process group."),
        option("--pid", env="SUBMIT_PID", type=int, help="Parent job id."),
        option(
            "--status",
            env="SUBMIT_STATUS",
            type=click.Choice(["pending", "blocked"]),
            help="Initial status [default: pending].",
        ),
        option("--hosts", env="SUBMIT_HOSTS", type=CommaList(), help="Run only on these hosts."),
        option(
            "--omithosts",
            env="SUBMIT_OMITHOSTS",
            type=CommaList(),
            help="Never run on these hosts.",
        ),
        option(
            "--groups",
            env="SUBMIT_GROUPS",
            type=CommaList(),
            help="Run only on hosts of these groups.",
        ),
        option(
            "--omitgroups",
            env="SUBMIT_OMITGROUPS",
            type=CommaList(),
            help="Never run on hosts of these groups.",
        ),
        option("--cluster", env="SUBMIT_CLUSTER", help="Run only on hosts of this cluster."),
        option(
            "--requirements",
            env="SUBMIT_REQUIREMENTS",
            metavar="EXPR",
            help="Run only on hosts whose facts meet EXPR: 'host.gpu=a100 && "
            "host.memory.avail>=8000' (docs/dispatch-requirements.md).",
        ),
        option(
            "--hostorder",
            env="SUBMIT_HOSTORDER",
            metavar="LIST",
            help="Prefer hosts by facts, largest first (+) or smallest (-): "
            "'+host.processor.avail,-host.memory.avail'.",
        ),
        *_flight_options(),
        option(
            "--reservations",
            env="SUBMIT_RESERVATIONS",
            metavar="LIST",
            help="What each instance takes while it runs: 'host.processors=2,"
            "host.memory=4000,global.maya=1' (docs/dispatch-resources.md).",
        ),
        option(
            "--retrywork",
            env="SUBMIT_RETRYWORK",
            type=click.IntRange(min=0),
            help="Retries of a failed agenda item.",
        ),
        option(
            "--retrywork-delay",
            env="SUBMIT_RETRYWORK_DELAY",
            type=click.FloatRange(min=0),
            metavar="SECONDS",
            help="Delay before a retry.",
        ),
        option(
            "--dependency",
            env="SUBMIT_DEPENDENCY",
            help="Wait for other jobs or frames: 'N', 'complete-job-N', "
            "'link-complete-work-LABEL' (frame by frame), comma = all of them.",
        ),
        option(
            "--dependency-failure",
            env="SUBMIT_DEPENDENCY_FAILURE",
            type=click.Choice(["wait", "fail", "run"]),
            help="When an upstream fails: wait (default), fail too, or run anyway.",
        ),
        option(
            "--after",
            env="SUBMIT_AFTER",
            metavar="TIME",
            help="Hold the job (blocked) until TIME: ISO-8601 with zone "
            "(2026-12-01T18:00+01:00), Qube seconds, or +DURATION (+90s, +5m, +2h, +1d).",
        ),
        option(
            "--timeout",
            env="SUBMIT_TIMEOUT",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="An instance running longer emits a timeout-subjob event.",
        ),
        option(
            "--agenda-timeout",
            env="SUBMIT_AGENDA_TIMEOUT",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="A work item running longer emits a timeout-work event.",
        ),
        option(
            "--retrysubjob",
            env="SUBMIT_RETRYSUBJOB",
            type=click.IntRange(min=0),
            help="Retries of a failed instance.",
        ),
        option(
            "--preemption",
            env="SUBMIT_PREEMPTION",
            type=click.Choice(["passive", "none"]),
            help="none: keep the slots until the agenda is done, even when a more urgent job "
            "waits [default: passive] (docs/dispatch-priority.md).",
        ),
        option(
            "--env",
            env="SUBMIT_ENV",
            type=KeyValue(),
            multiple=True,
            help="Environment variable of the command (repeatable).",
        ),
        option("--cwd", env="SUBMIT_CWD", metavar="DIR", help="Working directory."),
        option("--notes", env="SUBMIT_NOTES", help="Free text."),
        option("--user", env="SUBMIT_USER", help="Owner [default: your login name]."),
        option(
            "--file",
            "jobfile",
            env="SUBMIT_FILE",
            metavar="FILE",
            help="Submit the job dicts of a JSON or YAML file ('-': standard input); "
            "the options above fill the fields its jobs leave out.",
        ),
        option(
            "--wait",
            env="SUBMIT_WAIT",
            is_flag=True,
            help="Show progress until the jobs end (or can no longer finish: named, with "
            "why); exit 1 unless all complete. Rides through a supervisor restart.",
        ),
    ]
    for decorate in reversed(opts):
        f = decorate(f)
    return f


def _flight_options() -> list[Any]:
    """--preflights, --postflights, --agenda-preflights, --agenda-postflights."""
    what = {
        "preflights": "before an instance's first item on a host; one that fails sends the "
        "work to another host",
        "postflights": "after an instance's last item on a host; one that fails fails that item",
        "agenda-preflights": "before each item; one that fails sends the work to another host",
        "agenda-postflights": "after each item; one that fails fails the item",
    }
    return [
        option(f"--{name}", env=f"SUBMIT_{name.replace('-', '_').upper()}", metavar="PROGRAMS",
               help=f"Comma-separated programs run {text} (docs/dispatch-flights.md).")
        for name, text in what.items()
    ]  # fmt: skip


@click.command(context_settings={"allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@_submit_options
@url_option
@json_option
def submit(
    command: tuple[str, ...],
    frame_range: str | None,
    chunk: int | None,
    jobfile: str | None,
    wait: bool,
    env: tuple[tuple[str, str], ...],
    url: str | None,
    token: str | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Submit a job running COMMAND, or the jobs of --file.

    \b
      triggerfish submit --name hello -- echo hello
      triggerfish submit --name beauty --range 1-100 --chunk 5 --cpus 4 \\
          -- render -f QB_FRAME_NUMBER scene.rib
      triggerfish submit --file jobs.yaml

    A single COMMAND argument is a shell command line, used as is; several are quoted.
    Prints the ids of the submitted jobs.
    """
    options = JobOptions(env=pairs(env) or None, **fields)
    if options.user is None:
        options.user = login_name()
    if jobfile is not None:
        if command or frame_range is not None or chunk is not None:
            raise click.UsageError("--file cannot be combined with a command, --range or --chunk")
        jobs = with_defaults(load_jobs_file(jobfile), options)
    else:
        jobs = [build_job(command, options, frame_range=frame_range, chunk=chunk)]
    with connect(url, token) as client:
        submitted = client.submit(jobs)
        for warning in client.last_warnings:
            print_warning(warning)
        if not as_json:
            for job in submitted:
                click.echo(job["id"])
            sys.stdout.flush()
        if not wait:
            if as_json:
                print_json(submitted)
            return
        statuses, stuck = _wait(client, submitted, as_json)
    if as_json:
        print_json([{**j, "status": statuses.get(j["id"], j["status"]),
                     **({"stuck": stuck[j["id"]]} if j["id"] in stuck else {})}
                    for j in submitted])  # fmt: skip
    elif any(s != "complete" for s in statuses.values()):
        bad = ", ".join(f"{i} {s}" for i, s in statuses.items() if s != "complete")
        err_console().print(f"[red]not complete:[/] {bad}")
    print_stuck(stuck)
    if any(s != "complete" for s in statuses.values()):
        click.get_current_context().exit(1)


def _wait(
    client: Client, submitted: list[dict[str, Any]], as_json: bool
) -> tuple[dict[int, str], dict[int, str]]:
    """``--wait``: the final statuses, and why for the jobs that can no longer finish."""
    if as_json:
        try:
            return client.wait([j["id"] for j in submitted], notify=notice), {}
        except CannotFinish as exc:
            return exc.statuses, exc.stuck
    final = follow_jobs(client, submitted, err_console())
    statuses = {i: str(j["status"]) for i, j in final.items()}
    stuck = {
        i: str(j["stuck"])
        for i, j in final.items()
        if j.get("stuck") and j["status"] not in JobWatcher.ENDED
    }
    return statuses, stuck
