"""Options shared by the commands. Every option also reads an environment variable
``TRIGGERFISH_*``, shown in ``--help``."""

from __future__ import annotations

from collections.abc import Callable
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


def url_option(f: F) -> F:
    """``--url`` and ``--token``: where the supervisor is and who we are."""
    f = option(
        "--token",
        env="TOKEN",
        default=None,
        metavar="TOKEN",
        help="API token, sent as 'Authorization: Bearer'.",
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
    """The client of a command; use it in a ``with`` block."""
    return Client(url, token=token)
