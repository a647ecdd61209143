"""The job dict of ``triggerfish submit``: built from options and a command, or completed from a
file. Pure: nothing here talks to the supervisor."""

from __future__ import annotations

import getpass
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from triggerfish.errors import ValidationError

JSON = dict[str, Any]


@dataclass
class JobOptions:
    """Job fields given as options; None means "not given"."""

    name: str | None = None
    cpus: int | None = None
    priority: int | None = None
    label: str | None = None
    pgrp: int | None = None
    pid: int | None = None
    status: str | None = None
    hosts: list[str] | None = None
    omithosts: list[str] | None = None
    groups: list[str] | None = None
    omitgroups: list[str] | None = None
    cluster: str | None = None
    requirements: str | None = None
    hostorder: str | None = None
    reservations: str | None = None
    retrywork: int | None = None
    retrywork_delay: float | None = None
    retrysubjob: int | None = None
    preemption: str | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None
    notes: str | None = None
    user: str | None = None
    dependency: str | None = None
    dependency_failure: str | None = None
    after: str | None = None
    timeout: float | None = None
    agenda_timeout: float | None = None
    preflights: str | None = None
    postflights: str | None = None
    agenda_preflights: str | None = None
    agenda_postflights: str | None = None

    def fields(self) -> JSON:
        return {k: v for k, v in asdict(self).items() if v is not None}


def command_line(args: Sequence[str]) -> str:
    """One argument is a shell command line as it is; several are quoted and joined."""
    if len(args) == 1:
        return args[0]
    return shlex.join(args)


def _default_name(cmdline: str) -> str:
    try:
        words = shlex.split(cmdline)
    except ValueError:
        words = cmdline.split()
    return Path(words[0]).name if words else ""


def build_job(
    args: Sequence[str],
    options: JobOptions | None = None,
    *,
    frame_range: str | None = None,
    chunk: int | None = None,
) -> JSON:
    """The job dict of ``submit [options] -- COMMAND...``: cmdrange with a range, else cmdline."""
    if not args or not "".join(args).strip():
        raise ValidationError("give the command to run after '--'", field="package.cmdline")
    if chunk is not None and frame_range is None:
        raise ValidationError("--chunk needs --range", field="package.chunk")
    cmdline = command_line(args)
    package: JSON = {"cmdline": cmdline}
    prototype = "cmdline"
    if frame_range is not None:
        prototype = "cmdrange"
        package.update({"range": frame_range, "chunk": 1 if chunk is None else chunk})
    fields = (options or JobOptions()).fields()
    job: JSON = {"name": _default_name(cmdline), "prototype": prototype, "package": package}
    job.update(fields)
    return job


def with_defaults(jobs: list[JSON], options: JobOptions) -> list[JSON]:
    """Jobs of a file, each completed by the options it does not set itself."""
    fields = options.fields()
    return [{**fields, **job} for job in jobs]


def login_name() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None
