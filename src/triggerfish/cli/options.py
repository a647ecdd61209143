"""Options shared by the commands. Every option also reads an environment variable
``TRIGGERFISH_*``, shown in ``--help``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from triggerfish.client.client import Client

F = TypeVar("F", bound=Callable[..., Any])


def option(*decls: str, env: str | list[str], **kwargs: Any) -> Callable[[F], F]:
    """``click.option`` bound to the environment variable ``TRIGGERFISH_<env>`` (the first
    one set of several)."""
    names = [f"TRIGGERFISH_{e}" for e in ([env] if isinstance(env, str) else env)]
    envvar = names[0] if len(names) == 1 else names
    return click.option(*decls, envvar=envvar, show_envvar=True, **kwargs)


DATA_DIR_KEY = "triggerfish.data_dir"


def _remember_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta[DATA_DIR_KEY] = value


def url_option(f: F) -> F:
    """``--url``, ``--token`` and ``--data-dir``: where the supervisor is and who we are."""
    f = option(
        "--data-dir",
        env="DATA_DIR",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        callback=_remember_data_dir,
        help="Data dir of a supervisor on this machine: without --token, its admin.token "
        "is used [default: the per-user data dir].",
    )(f)
    f = option(
        "--token",
        env="TOKEN",
        default=None,
        metavar="TOKEN",
        help="API token, sent as 'Authorization: Bearer' [default: the data dir's admin.token].",
    )(f)
    return option(
        "--url",
        env="URL",
        default=None,
        metavar="URL",
        help="Supervisor URL [default: http://127.0.0.1:8765].",
    )(f)


def json_option(f: F) -> F:
    return option(
        "--json",
        "as_json",
        env="JSON",
        is_flag=True,
        default=False,
        help="Print machine-readable JSON and nothing else.",
    )(f)


def connect(url: str | None, token: str | None) -> Client:
    """The client of a command (token: ``token``, else ``TRIGGERFISH_TOKEN``, else the
    admin.token of ``--data-dir``); use it in a ``with`` block."""
    ctx = click.get_current_context(silent=True)
    data_dir = ctx.meta.get(DATA_DIR_KEY) if ctx is not None else None
    return Client(url, token=token, data_dir=data_dir)
