"""``triggerfish supervisor`` and ``triggerfish worker``: the two long-running processes."""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import click

from triggerfish import logfmt
from triggerfish.auth.tokens import find_token
from triggerfish.cli.local import free_port
from triggerfish.cli.options import option
from triggerfish.cli.params import DurationType, HostProperty, ResourceTotal, SizeType, pairs
from triggerfish.errors import TriggerfishError
from triggerfish.settings import (
    DEFAULT_PORT,
    ServerSettings,
    default_data_dir,
    supervisor_url,
)

LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)
LOG_FORMATS = click.Choice(list(logfmt.FORMATTERS), case_sensitive=False)  # text first


def log_format_option(f: Any) -> Any:
    """``--log-format``: how the process's own log lines look on stderr."""
    return option(
        "--log-format",
        env="LOG_FORMAT",
        type=LOG_FORMATS,
        default="text",
        show_default=True,
        help="Log lines on stderr: text (for people) or json (one JSON object a line, with "
        "time, level, logger, message and the line's fields, for log collectors).",
    )(f)


def entry_point(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported only when the command runs."""
    try:
        return cast(Callable[..., Any], getattr(importlib.import_module(module), name))
    except (ImportError, AttributeError) as exc:
        raise TriggerfishError(f"{module}.{name} is not available: {exc}") from exc


def data_dir_option(f: Any) -> Any:
    return option(
        "--data-dir",
        env="DATA_DIR",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Where the database, logs and callbacks live [default: {default_data_dir()}].",
    )(f)


def server_options(f: Any) -> Any:
    """The options a supervisor takes; ``run`` shares them."""
    decorators: list[Callable[[Any], Any]] = [
        option(
            "--db",
            env="DB",
            metavar="URL",
            default=None,
            help="Database URL (sqlite:///... or postgresql+psycopg://...) "
            "[default: SQLite in the data dir].",
        ),
        option(
            "--port",
            env="PORT",
            type=click.IntRange(0, 65535),
            default=DEFAULT_PORT,
            show_default=True,
            help="TCP port (0: pick a free one).",
        ),
        data_dir_option,
        option(
            "--host-timeout",
            env="HOST_TIMEOUT",
            type=click.FloatRange(min=1),
            default=30.0,
            show_default=True,
            metavar="SECONDS",
            help="A worker silent this long is marked down.",
        ),
        option("--log-level", env="LOG_LEVEL", type=LOG_LEVELS, default="info", show_default=True),
        log_format_option,
        option(
            "--metrics-public",
            env="METRICS_PUBLIC",
            is_flag=True,
            default=False,
            help="Answer GET /metrics (Prometheus) without a token [default: any known API token].",
        ),
    ]
    for decorate in reversed(decorators):
        f = decorate(f)
    return f


@click.command()
@option("--bind", env="BIND", default="127.0.0.1", show_default=True, help="Address to listen on.")
@server_options
@option("--callback-timeout", env="CALLBACK_TIMEOUT", type=click.FloatRange(min=0.1),
        default=60.0, show_default=True, metavar="SECONDS",
        help="Time limit of one callback run (python, perl, exec, mail).")  # fmt: skip
@option("--callback-memory", env="CALLBACK_MEMORY", type=click.IntRange(min=64),
        default=1024, show_default=True, metavar="MB",
        help="Memory limit (address space) of one callback process.")  # fmt: skip
@option("--callback-workers", env="CALLBACK_WORKERS", type=click.IntRange(min=1),
        default=4, show_default=True,
        help="Callback runs (python, perl, exec, mail) at once.")  # fmt: skip
@option("--universal-callback-path", env="UNIVERSAL_CALLBACK_PATH", metavar="DIRS", default=None,
        help="Comma-separated directories of universal callbacks (callbacks.conf and its files) "
        "[default: <data dir>/callback].")  # fmt: skip
@option("--smtp-host", env="SMTP_HOST", default="localhost", show_default=True,
        help="SMTP server of mail callbacks.")  # fmt: skip
@option("--smtp-port", env="SMTP_PORT", type=click.IntRange(1, 65535), default=25,
        show_default=True, help="Its port.")  # fmt: skip
@option("--smtp-from", env="SMTP_FROM", default="", metavar="ADDRESS",
        help="Sender of mail callbacks [default: triggerfish@<this host>].")  # fmt: skip
@option("--smtp-tls/--no-smtp-tls", env="SMTP_TLS", default=False, show_default=True,
        help="Use STARTTLS.")  # fmt: skip
@option("--smtp-user", env="SMTP_USER", default=None, help="SMTP login (with --smtp-password).")
@option("--smtp-password", env="SMTP_PASSWORD", default=None, help="SMTP password.")
@option("--gc-freeze-every", env="GC_FREEZE_EVERY", type=click.FloatRange(min=0), default=10.0,
        show_default=True, metavar="SECONDS",
        help="Hide the objects alive from Python's garbage collector this often, so that its "
        "full collections stay short (0: Python's default).")  # fmt: skip
@option("--gc-full-every", env="GC_FULL_EVERY", type=click.FloatRange(min=0), default=600.0,
        show_default=True, metavar="SECONDS",
        help="With --gc-freeze-every: one full collection this often (0: never).")  # fmt: skip
@option("--allow-pickle", env="ALLOW_PICKLE", is_flag=True, default=False,
        help="Accept tasks whose params are pickled, and triggerfish.futures calls that need "
        "pickle (only where every client is trusted: unpickling runs code on the workers). "
        "Shown to clients by GET /api/v1/health.")  # fmt: skip
@option("--retention", env="RETENTION", type=DurationType(), default="0", show_default=True,
        metavar="DURATION",
        help="Delete finished jobs (with their work, events, callback runs and logs) this long "
        "after their last change, and events of no job this long after they happened: 30d, "
        "12h, 90s (0: keep everything).")  # fmt: skip
@option("--max-body", env="MAX_BODY", type=SizeType(), default="16M", show_default=True,
        help="Largest request body accepted (bytes, or 512K, 16M, 1G); a bigger one is "
        "answered 413 before it is read.")  # fmt: skip
@option("--callback-user", env="CALLBACK_USER", default=None, metavar="USER",
        help="OS user that callback code runs as (the supervisor must run as root) "
        "[default: the supervisor's own user].")  # fmt: skip
@option("--preempt", env="PREEMPT", type=click.Choice(["passive", "aggressive"]),
        default="passive", show_default=True,
        help="How more urgent jobs take slots: passive, between items; aggressive, also by "
        "sending running items of less urgent jobs back to pending "
        "(docs/dispatch-priority.md).")  # fmt: skip
@option("--resource", "resources", env="RESOURCES", type=ResourceTotal(), multiple=True,
        help="A global resource (license pool) NAME=COUNT that jobs reserve with "
        "'global.NAME=1' (repeatable; comma-separated in the variable). Set at each start; "
        "'triggerfish resources set' changes it live (docs/dispatch-resources.md).")  # fmt: skip
def supervisor(
    bind: str,
    db: str | None,
    port: int,
    data_dir: Path | None,
    host_timeout: float,
    log_level: str,
    log_format: str,
    metrics_public: bool,
    callback_timeout: float,
    callback_memory: int,
    callback_workers: int,
    universal_callback_path: str | None,
    smtp_host: str,
    smtp_port: int,
    smtp_from: str,
    smtp_tls: bool,
    smtp_user: str | None,
    smtp_password: str | None,
    gc_freeze_every: float,
    gc_full_every: float,
    allow_pickle: bool,
    retention: float,
    max_body: int,
    callback_user: str | None,
    preempt: str,
    resources: tuple[tuple[str, int], ...],
) -> None:
    """Run the supervisor: the HTTP API, the engine and the database (blocks).

    It listens on 127.0.0.1 unless --bind says otherwise, and writes a local admin token to
    <data dir>/admin.token (mode 0600), which the CLI and workers on this machine use.
    Another address is refused until user or worker tokens exist ('triggerfish users add').
    One supervisor serves a database: a second one on the same database (from any host)
    exits at once, naming the first. GET /api/v1/health and /api/v1/ready answer without a
    token.
    """
    log_format = log_format.lower()
    if port == 0:
        port = free_port(bind)
        message = f"listening on port {port}"
        if log_format == "json":
            message = logfmt.line("json", __name__, message, action="supervisor.port", port=port)
        else:
            message = f"triggerfish supervisor: {message}"
        click.echo(message, err=True)
    settings = ServerSettings(
        data_dir=data_dir or default_data_dir(),
        db_url=db,
        bind=bind,
        port=port,
        host_timeout=host_timeout,
        log_level=log_level.lower(),
        log_format=log_format,
        callback_timeout=callback_timeout,
        callback_memory_mb=callback_memory,
        callback_workers=callback_workers,
        universal_callback_path=universal_callback_path,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_from=smtp_from,
        smtp_tls=smtp_tls,
        smtp_user=smtp_user,
        smtp_password=smtp_password,
        gc_freeze_every=gc_freeze_every,
        gc_full_every=gc_full_every,
        allow_pickle=allow_pickle,
        retention=retention,
        max_body=max_body,
        callback_user=callback_user,
        metrics_public=metrics_public,
        preempt=preempt,
        resources=dict(resources),
    )
    entry_point("triggerfish.server.main", "serve")(settings)


@click.command()
@option(
    "--supervisor",
    "url",
    env="URL",
    default=None,
    metavar="URL",
    help="Supervisor URL [default: http://127.0.0.1:8765].",
)
@option(
    "--slots",
    env="WORKER_SLOTS",
    type=click.IntRange(1, 4096),
    default=os.cpu_count() or 1,
    show_default=True,
    help="Work items run at once.",
)
@option(
    "--name",
    env="WORKER_NAME",
    default=socket.gethostname(),
    show_default=True,
    help="Host name registered with the supervisor.",
)
@option(
    "--group",
    "groups",
    env="WORKER_GROUPS",
    multiple=True,
    help="Host group (repeatable; space-separated in the variable).",
)
@option("--cluster", env="WORKER_CLUSTER", default=None, help="Cluster of the host.")
@option(
    "--property",
    "properties",
    env=["PROPERTIES", "WORKER_PROPERTIES"],
    type=HostProperty(),
    multiple=True,
    help="Host property KEY=VALUE (Qube's worker_properties), VALUE decoded as JSON "
    "(repeatable; comma-separated in the variable). Jobs see it as host.KEY.",
)
@option(
    "--token",
    env=["WORKER_TOKEN", "TOKEN"],
    default=None,
    help="API token of the worker ('triggerfish users add NAME --worker') [default: the "
    "admin.token of the data dir, for a supervisor on this machine].",
)
@option(
    "--data-dir",
    env="DATA_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data dir of a supervisor on this machine: without --token, its admin.token is used; "
    "the worker keeps its running commands' process groups in its workers/ dir, so that a "
    "restart under the same name ends what a crash left [default: the per-user data dir].",
)
@option(
    "--task-import",
    "task_imports",
    env="TASK_IMPORTS",
    multiple=True,
    metavar="MODULE",
    help="Module each task process imports first, e.g. to register services (repeatable; "
    "comma- or space-separated in the variable).",
)
@option(
    "--ahead",
    env="WORKER_AHEAD",
    type=click.IntRange(0, 64),  # api.schemas.AHEAD_MAX (not imported: start-up time)
    default=64,
    show_default=True,
    help="Short agenda items (under 0.5 s) an instance may hold queued behind its running one, "
    "to run back to back and report together (0: one at a time).",
)
@option(
    "--check",
    env="CHECK",
    default=None,
    metavar="CMD",
    help="Health check of this host, run with /bin/sh -c at start and every --check-interval "
    "seconds: while it exits non-zero the host gets no new work (running items go on) and "
    "'triggerfish hosts' shows why.",
)
@option(
    "--check-interval",
    env="CHECK_INTERVAL",
    type=click.FloatRange(0.1, 86_400),
    default=60.0,
    show_default=True,
    help="Seconds between two runs of --check (also its time limit, at least 5 s).",
)
@option(
    "--jobtypes",
    env="JOBTYPES",
    default=None,
    metavar="DIR[:DIR...]",
    help="Directories of job types: each DIR/NAME/ holding an execute.py is the job type NAME "
    "(with its job.conf defaults), run as one process per instance for jobs whose prototype "
    "is NAME; see docs/jobtypes.md. Installed packages' job types (entry points "
    "'triggerfish.jobtypes') are offered too.",
)
@option("--log-level", env="LOG_LEVEL", type=LOG_LEVELS, default="info", show_default=True)
@log_format_option
def worker(
    url: str | None,
    slots: int,
    name: str,
    groups: tuple[str, ...],
    cluster: str | None,
    properties: tuple[tuple[str, Any], ...],
    token: str | None,
    task_imports: tuple[str, ...],
    data_dir: Path | None,
    ahead: int,
    check: str | None,
    check_interval: float,
    jobtypes: str | None,
    log_level: str,
    log_format: str,
) -> None:
    """Run a worker: register this host, pull work, run it, report back (blocks)."""
    logfmt.configure(log_level, fmt=log_format.lower())
    run_worker = entry_point("triggerfish.worker.agent", "run_worker")
    url = supervisor_url(url)
    code = run_worker(
        url,
        name=name,
        slots=slots,
        groups=list(groups),
        cluster=cluster,
        properties=pairs(properties),
        token=find_token(token, data_dir, url),
        task_imports=[m for t in task_imports for m in t.replace(",", " ").split()],
        ahead=ahead,
        state_dir=(data_dir or default_data_dir()) / "workers",
        check=check or None,
        check_interval=check_interval,
        jobtype_dirs=[Path(p).expanduser() for p in (jobtypes or "").split(":") if p.strip()],
    )
    click.get_current_context().exit(int(code or 0))
