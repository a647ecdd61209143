"""How triggerfish's own log lines look: the message, then the fields a log call passed in
``extra=`` as ``key=value``.

Log lines about work name it with the same keys everywhere (supervisor and worker):

- ``job``: the job id
- ``item``: the agenda item's name (none for a cmdline instance without agenda)
- ``instance``: the instance (subjob) number
- ``host``: the worker's host name
- ``attempt``: the attempt's token (the same on both sides, and in the ``=== attempt ...``
  lines of ``triggerfish logs``)

and ``action`` says what happened (e.g. ``attempt.lost``).

A formatter only has to turn :func:`fields` into text: :class:`KeyValueFormatter` for people
today, a JSON one later (``FORMATTERS``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import IO, Any

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIRST = ("action", "job", "item", "instance", "host", "attempt")  # shown first, in this order
# what every LogRecord has: anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call passed in ``extra=`` (``FIRST`` first), without empty ones."""
    extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and v is not None}
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


FORMATTERS: dict[str, type[logging.Formatter]] = {"text": KeyValueFormatter}


def configure(level: str, *, fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Send triggerfish's log lines (the root logger's) to ``stream`` (stderr) in format
    ``fmt``, at ``level`` (a level name, any case); replaces what an earlier call set up."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(FORMATTERS[fmt]())
    handler.set_name("triggerfish")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "triggerfish"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
