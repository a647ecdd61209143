"""Index keys: what an atom listens to, once its context is resolved to a job id.

A key is ``(name, type, job, extra)``: ``job`` None = any job (host atoms with context ``*``),
``extra`` None = any extra (absent or ``*``), ``"$name"`` = a pattern variable (binds the
event's extra; literal extras never start with ``$``), otherwise the literal extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

Key = tuple[str, str, int | None, str | None]

# The bindings of a match of an atom without pattern variable (shared, read-only).
NO_BINDINGS: Mapping[str, str] = MappingProxyType({})


class Match(NamedTuple):
    """An atom an event matched, with the binding of its pattern variable (if any)."""

    callback_id: int
    atom_no: int
    bindings: Mapping[str, str]


def key_variable(key: Key) -> str | None:
    """The pattern variable of ``key`` (without ``$``), or None."""
    extra = key[3]
    return extra[1:] if extra is not None and extra.startswith("$") else None
