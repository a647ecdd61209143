"""``triggerfish callbacks JOB|global|universal|check|reload``, ``add-callback``,
``remove-callback`` and ``triggerfish trigger check EXPR``."""

from __future__ import annotations

import contextlib
from typing import Any

import click
from rich.table import Table

from triggerfish.callbacks.universal import parse_path, read_conf
from triggerfish.cli.options import connect, json_option, option, url_option
from triggerfish.cli.output import console, fmt_time, print_json
from triggerfish.errors import TriggerfishError
from triggerfish.triggers import And, Expr, Or, check, unparse


def _latches(cb: dict[str, Any]) -> str:
    lat = cb.get("latches") or {}
    parts = []
    if lat.get("latched"):
        parts.append("atoms " + ",".join(str(n) for n in lat["latched"]))
    pending = lat.get("pending") or {}
    if pending:
        shown = ", ".join(f"{k}:{','.join(map(str, v))}" for k, v in list(pending.items())[:5])
        more = f" (+{len(pending) - 5} more)" if len(pending) > 5 else ""
        parts.append(f"per value {shown}{more}")
    return "; ".join(parts) or "-"


WORDS = ("global", "universal", "check", "reload")


def _universal(conf: dict[str, Any], as_json: bool, title: str) -> None:
    """Print the universal callbacks: good lines, then each bad line and why; exit 1 if any."""
    if as_json:
        print_json(conf)
    else:
        out = console()
        for d in conf.get("missing", []):
            out.print(f"[dim]{d}: no callbacks.conf[/]")
        if conf["entries"]:
            table = Table(box=None, header_style="bold", pad_edge=False, title=title)
            for col in ("conf:line", "file", "language", "trigger"):
                table.add_column(col)
            for e in conf["entries"]:
                table.add_row(f"{e['conf']}:{e['line']}", e["file"], e["language"], e["trigger"])
            out.print(table)
        elif not conf["problems"]:
            out.print(f"[dim]no universal callbacks in {', '.join(conf['dirs']) or '-'}[/]")
        for p in conf["problems"]:
            out.print(f"[red]{p['conf']}:{p['line']}: {p['error']}[/]")
            if p["text"]:
                out.print(f"  [dim]{p['text']}[/]")
    if conf["problems"]:
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("job_id", metavar="JOB|global|universal|check|reload")
@option("--runs", env="CALLBACKS_RUNS", type=click.IntRange(0), default=20, show_default=True,
        help="How many of the last runs to show.")  # fmt: skip
@option("--path", "check_path", env="CALLBACKS_CHECK_PATH", metavar="DIRS", default=None,
        help="With 'check': check these comma-separated directories here, without asking the "
        "supervisor.")  # fmt: skip
@url_option
@json_option
def callbacks(job_id: str, runs: int, check_path: str | None, url: str | None,
              token: str | None, as_json: bool) -> None:  # fmt: skip
    """Show a job's callbacks (or the global ones), their latches, and their last runs.

    \b
    universal  the supervisor's universal callbacks (callbacks.conf), good and bad lines
    check      the same, checking every line: exit 1 naming each bad line and why
               (missing file, unknown extension, bad trigger, duplicate entry, ...);
               with --path, checks those directories here instead
    reload     make the supervisor re-read every callbacks.conf now, then 'check'
    """
    if job_id not in WORDS and not job_id.isdigit():
        raise click.BadParameter(f"expected a job id or one of {', '.join(WORDS)}",
                                 param_hint="JOB")  # fmt: skip
    if job_id == "check" and check_path is not None:
        _universal(read_conf(parse_path(check_path)).to_dict(), as_json, "universal callbacks")
        return
    if job_id in ("universal", "check", "reload"):
        with connect(url, token) as client:
            conf = client.universal_callbacks(reload=job_id == "reload")
        if job_id == "universal" and not as_json:
            with contextlib.suppress(click.exceptions.Exit):  # listing is not checking
                _universal(conf, False, "universal callbacks")
            return
        _universal(conf, as_json, "universal callbacks")
        return
    with connect(url, token) as client:
        if job_id == "global":
            found = client.global_callbacks(runs=runs)
        else:
            found = client.callbacks(int(job_id), runs=runs)
    if as_json:
        print_json(found)
        return
    out = console()
    if not found["callbacks"]:
        out.print(f"[dim]job {job_id} has no callbacks[/]")
        return
    table = Table(box=None, header_style="bold", pad_edge=False, title=f"callbacks of job {job_id}")
    for col in ("id", "source", "triggers", "language", "code", "fired", "latched"):
        table.add_column(col)
    for cb in found["callbacks"]:
        maximum = cb.get("maximum")
        fired = f"{cb['count']}" + (f"/{maximum}" if maximum else "")
        table.add_row(str(cb["id"]), cb["source"], cb["triggers"], cb["language"], cb["code"],
                      fired, _latches(cb))  # fmt: skip
    out.print(table)
    if runs and found["runs"]:
        rt = Table(box=None, header_style="bold", pad_edge=False, title="last runs")
        for col in ("run", "callback", "event", "bindings", "status", "when", "output"):
            rt.add_column(col)
        for r in found["runs"]:
            bindings = ",".join(f"{k}={v}" for k, v in (r.get("bindings") or {}).items())
            output = (r.get("output") or "")[:80]
            rt.add_row(str(r["id"]), str(r["callback"]), str(r["event_seq"]), bindings or "-",
                       r["status"], fmt_time(r.get("started")), output)  # fmt: skip
        out.print(rt)


def _tree(expr: Expr, depth: int = 0) -> list[str]:
    pad = "  " * depth
    if isinstance(expr, And | Or):
        lines = [f"{pad}{'AND' if isinstance(expr, And) else 'OR'}"]
        for item in expr.items:
            lines += _tree(item, depth + 1)
        return lines
    return [f"{pad}{unparse(expr)}"]


@click.command("add-callback")
@option("--triggers", env="CALLBACK_TRIGGERS", required=True, help="The trigger expression.")
@option("--code", env="CALLBACK_CODE", help="The code (or --file).")
@option("--file", "code_file", env="CALLBACK_FILE", type=click.File("r"),
        help="Read the code from a file.")  # fmt: skip
@option("--language", env="CALLBACK_LANGUAGE", default="python", show_default=True,
        help="The callback's language.")  # fmt: skip
@option("--maximum", env="CALLBACK_MAXIMUM", type=click.IntRange(min=1),
        help="Fire at most this often.")  # fmt: skip
@url_option
@json_option
def add_callback(triggers: str, code: str | None, code_file: Any, language: str,
                 maximum: int | None, url: str | None, token: str | None,
                 as_json: bool) -> None:  # fmt: skip
    """Add a global (site-wide) callback, e.g. on 'down-host-*' or 'failed-job-12'."""
    if (code is None) == (code_file is None):
        raise click.UsageError("give the code with --code or --file (one of them)")
    text = code if code is not None else code_file.read()
    with connect(url, token) as client:
        added = client.add_global_callback(triggers, text, language=language, maximum=maximum)
    if as_json:
        print_json(added)
    else:
        click.echo(added["id"])


@click.command("remove-callback")
@click.argument("callback_id", type=int)
@url_option
def remove_callback(callback_id: int, url: str | None, token: str | None) -> None:
    """Remove a global callback."""
    with connect(url, token) as client:
        client.remove_global_callback(callback_id)


@click.group()
def trigger() -> None:
    """Work with trigger expressions."""


@trigger.command("check")
@click.argument("expression")
def trigger_check(expression: str) -> None:
    """Parse EXPRESSION: print its tree, or where and why it is wrong (exit 1)."""
    try:
        parsed = check(expression)
    except TriggerfishError as exc:
        click.echo(f"{expression}\n{' ' * (getattr(exc, 'column', 1) - 1)}^", err=True)
        raise
    click.echo(unparse(parsed.expr))
    click.echo("\n".join(_tree(parsed.expr)))
    for w in parsed.warnings:
        click.echo(f"warning: {w}", err=True)
