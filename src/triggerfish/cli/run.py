"""``triggerfish run``: a supervisor and local workers on this machine, until Ctrl-C."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from types import FrameType

import click

from triggerfish import logfmt
from triggerfish.auth.tokens import local_token_path
from triggerfish.cli.daemons import server_options
from triggerfish.cli.local import LocalFarm, Revival
from triggerfish.cli.options import option
from triggerfish.cli.output import console, print_warning
from triggerfish.settings import default_data_dir

logger = logging.getLogger(__name__)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _json_logs(log_level: str) -> None:
    """``--log-format json``: this process's own lines on stderr (a worker restarted, an
    error) are JSON objects too, like its children's; its requests to the supervisor are
    logged at debug level only."""
    logfmt.configure(log_level, fmt="json")
    if log_level != "debug":
        logging.getLogger("httpx").setLevel(logging.WARNING)


def _revived(dead: Revival, json_logs: bool) -> None:
    when = f"in {dead.delay:g} s" if dead.delay else "now"
    message = (
        f"worker {dead.name} exited with code {dead.code}: its host is marked down (its "
        f"work goes to other hosts); restarting it {when}"
    )
    if json_logs:
        fields = {"host": dead.name, "exit_code": dead.code, "delay": dead.delay}
        logger.warning(message, extra={"action": "worker.restart", **fields})
    else:
        print_warning(message)


@click.command()
@option(
    "--workers",
    env="RUN_WORKERS",
    type=click.IntRange(0, 256),
    default=2,
    show_default=True,
    help="Worker processes to start.",
)
@option(
    "--slots",
    env="RUN_SLOTS",
    type=click.IntRange(1, 4096),
    default=1,
    show_default=True,
    help="Slots of each worker.",
)
@option("--bind", env="BIND", default="127.0.0.1", show_default=True, help="Address to listen on.")
@server_options
def run(
    workers: int,
    slots: int,
    bind: str,
    db: str | None,
    port: int,
    data_dir: Path | None,
    host_timeout: float,
    log_level: str,
    log_format: str,
    metrics_public: bool,
) -> None:
    """Run a supervisor and local workers on this machine (the single-machine farm).

    A worker that dies is restarted (its host marked down first, so its work goes on
    elsewhere at once). Ctrl-C (or SIGTERM) stops the workers, then the supervisor.
    """
    log_level, log_format = log_level.lower(), log_format.lower()
    if log_format == "json":
        _json_logs(log_level)
    farm = LocalFarm(
        workers,
        slots,
        data_dir or default_data_dir(),
        port,
        db,
        host_timeout,
        bind=bind,
        log_level=log_level,
        log_format=log_format,
        capture_output=False,
        metrics_public=metrics_public,
    )
    out = console()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with farm:
            out.print(
                f"[bold green]triggerfish[/] listening on [bold]{farm.url}[/] with "
                f"{workers} worker(s) of {slots} slot(s); data in {farm.data_dir}"
            )
            data = "" if data_dir is None else f"  export TRIGGERFISH_DATA_DIR={farm.data_dir}\n"
            out.print(
                f"  export TRIGGERFISH_URL={farm.url}\n{data}"
                "  triggerfish submit --range 1-10 -- echo frame QB_FRAME_NUMBER\n"
                "  triggerfish jobs\n"
                f"web page: {farm.url}/ "
                f"(log in with the token in {local_token_path(farm.data_dir)})\n"
                "[dim]Ctrl-C stops.[/]"
            )
            while True:
                farm.check()  # (raises if the supervisor died)
                for dead in farm.revive():
                    _revived(dead, log_format == "json")
                time.sleep(0.5)
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
