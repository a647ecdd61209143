"""How triggerfish's own log lines look: in text, the message, then the fields a log call
passed in ``extra=`` as ``key=value``; in JSON, one object a line with those fields.

Log lines about work name it with the same keys everywhere (supervisor and worker):

- ``job``: the job id
- ``item``: the agenda item's name (none for a cmdline instance without agenda)
- ``instance``: the instance (subjob) number
- ``host``: the worker's host name
- ``attempt``: the attempt's token (the same on both sides, and in the ``=== attempt ...``
  lines of ``triggerfish logs``)

and ``action`` says what happened (e.g. ``attempt.lost``).

A formatter only has to turn :func:`fields` into text (``FORMATTERS``, chosen with
``--log-format``): :class:`KeyValueFormatter` for people, :class:`JsonFormatter` (one JSON
object a line, by python-json-logger) for log collectors.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any

from pythonjsonlogger import json as jsonlogger
from pythonjsonlogger.core import RESERVED_ATTRS

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIRST = ("action", "job", "item", "instance", "host", "attempt")  # shown first, in this order
# what every LogRecord has: anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# ... or from a library, and says nothing more: uvicorn's copy of the message in ANSI colours
_NOISE = frozenset({"color_message"})
JSON_HEAD = ("time", "level", "logger", "message")  # the keys every JSON line starts with


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call passed in ``extra=`` (``FIRST`` first), without empty ones."""
    extra = {
        k: v
        for k, v in vars(record).items()
        if k not in _STANDARD and k not in _NOISE and v is not None
    }
    out = {k: extra.pop(k) for k in FIRST if k in extra}
    out.update(sorted(extra.items()))
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        plain = value and not any(c.isspace() or c in '"=\\' for c in value)
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    return _text(str(value))


def key_values(values: Mapping[str, Any]) -> str:
    """``key=value key2="a value"``: values with spaces, quotes or ``=`` are quoted as JSON."""
    return " ".join(f"{k}={_text(v)}" for k, v in values.items())


class KeyValueFormatter(logging.Formatter):
    """The usual text line, then the ``extra=`` fields as ``key=value`` (before a traceback)."""

    def __init__(self, fmt: str | None = DEFAULT_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extra = fields(record)
        return f"{line} {key_values(extra)}" if extra else line


class JsonFormatter(jsonlogger.JsonFormatter):
    """One JSON object a line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
    then the ``extra=`` fields (:func:`fields`: the same keys, order and omissions as the text
    format), then ``exc_info`` (the traceback, one string) and ``stack_info`` when there are.

    python-json-logger builds and encodes the object (a value JSON has no type for becomes
    its ``str``); this class only chooses the keys. A field named like one of the four first
    keys is kept with ``_`` appended (``time_``), so that those four always mean the same."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            # (a field named "level" would otherwise replace the level: renamed below instead)
            reserved_attrs=[*RESERVED_ATTRS, *JSON_HEAD],
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        # the library adds every other attribute of the record as it is (empty ones too) and
        # the time last: keep its four and its exc_info/stack_info, in our order
        head = {k: log_data[k] for k in JSON_HEAD}
        tail: dict[str, Any] = {k: log_data[k] for k in ("exc_info", "stack_info") if k in log_data}
        extra = {(f"{k}_" if k in head else k): v for k, v in fields(record).items()}
        log_data.clear()
        log_data.update(head)
        log_data.update(extra)
        log_data.update(tail)


FORMATTERS: dict[str, type[logging.Formatter]] = {"text": KeyValueFormatter, "json": JsonFormatter}


HANDLER = "triggerfish"  # the name of the root logger's handler that configure() sets up


def configure(level: str, *, fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Send triggerfish's log lines (the root logger's) to ``stream`` (stderr) in format
    ``fmt``, at ``level`` (a level name, any case); replaces what an earlier call set up.

    In the JSON format what Python writes to stderr goes through the log too
    (:func:`python_output_to_log`), so that every line the process writes there is a JSON
    object."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(FORMATTERS[fmt]())
    handler.set_name(HANDLER)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    python_output_to_log(fmt == "json")


def python_output_to_log(on: bool) -> None:
    """What Python itself writes to stderr as log lines (``on``), or as Python writes it: its
    warnings (``py.warnings``) and the traceback of an exception nothing caught, in the main
    thread, another thread or a ``__del__`` (level CRITICAL, ``action`` "crash")."""
    logging.captureWarnings(on)
    hooks: list[tuple[Any, str, Any, Any]] = [
        (sys, "excepthook", _log_uncaught, sys.__excepthook__),
        (threading, "excepthook", _log_thread, threading.__excepthook__),
        (sys, "unraisablehook", _log_unraisable, sys.__unraisablehook__),
    ]
    for module, name, ours, pythons in hooks:
        if on:
            setattr(module, name, ours)
        elif getattr(module, name) is ours:
            setattr(module, name, pythons)


def _crash(message: str, kind: Any, exc: BaseException | None, tb: Any, **extra: Any) -> None:
    exc_info = (kind, exc, tb) if exc is not None else None
    logging.getLogger("triggerfish").critical(
        message, exc_info=exc_info, extra={"action": "crash", **extra}
    )


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    _crash(f"uncaught {kind.__name__}: {exc}", kind, exc, tb)


def _log_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # (as Python's own hook: a thread's normal way out)
        return
    name = args.thread.name if args.thread is not None else None
    what = f"uncaught {args.exc_type.__name__} in thread {name}: {args.exc_value}"
    _crash(what, args.exc_type, args.exc_value, args.exc_traceback, thread_name=name)


def _log_unraisable(u: sys.UnraisableHookArgs) -> None:
    try:
        where = f"{u.err_msg or 'Exception ignored in'}: {u.object!r}"
    except Exception:  # (a repr that fails: what Python's own hook also survives)
        where = u.err_msg or "Exception ignored"
    _crash(where, u.exc_type, u.exc_value, u.exc_traceback)


def configured_format() -> str | None:
    """The format :func:`configure` set up in this process (None: it was not called)."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == HANDLER:
            kind = type(handler.formatter)
            return next((name for name, cls in FORMATTERS.items() if cls is kind), None)
    return None


def line(fmt: str, name: str, message: str, **extra: Any) -> str:
    """An INFO line of logger ``name`` in format ``fmt``, for a line to print whatever the
    level and before logging is set up (e.g. the port a starting process picked)."""
    record = logging.getLogger(name).makeRecord(
        name, logging.INFO, "(line)", 0, message, (), None, extra=extra
    )
    return FORMATTERS[fmt]().format(record)
