"""Flight checks (Qube's ``preflights``, ``postflights``, ``agenda_preflights``,
``agenda_postflights``): programs a worker runs around an instance or an agenda item.

Each field is a comma-separated list of command lines (each run with ``/bin/sh -c``); an empty
field (or one holding only commas and blanks) runs nothing. A command line cannot hold a comma
itself: put such a command in a script. Pure: nothing is run here (see ``worker.flights``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIELDS = ("preflights", "postflights", "agenda_preflights", "agenda_postflights")
MAX_FLIGHT_TEXT = 10_000  # characters of one field
MAX_PROGRAMS = 32  # command lines in one field
DEFAULT_TIMEOUT = 300.0  # seconds a flight program may run when the job has no ``timeout``


def programs(text: str) -> list[str]:
    """The command lines of a flight field, in order (empty parts dropped)."""
    return [p.strip() for p in text.split(",") if p.strip()]


def check(text: str) -> str:
    """A flight field as stored: ``""`` when it names no program; ValueError if too many."""
    progs = programs(text)
    if len(progs) > MAX_PROGRAMS:
        raise ValueError(f"at most {MAX_PROGRAMS} programs, got {len(progs)}")
    return text if progs else ""


def of_job(fields: Mapping[str, Any]) -> dict[str, str]:
    """The flight fields of a job's stored ``fields`` that name programs (none: ``{}``)."""
    out: dict[str, str] = {}
    for name in FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip(" ,"):
            out[name] = value
    return out


def timeout_of(fields: Mapping[str, Any]) -> float:
    """Seconds each flight program may run: the job's ``agenda_timeout`` or ``timeout``,
    else :data:`DEFAULT_TIMEOUT`."""
    for name in ("agenda_timeout", "timeout"):
        value = fields.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return DEFAULT_TIMEOUT
