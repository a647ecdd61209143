"""JSON text of a column value, as the store writes it: orjson, falling back to ``json``.

A busy farm encodes about ten JSON values per frame or task (event data, a job's package,
fields and tallies, an item's result); ``json.dumps`` was a tenth of the supervisor's CPU on
trivial tasks. orjson writes the same values several times faster, in the compact form.
What it refuses (integers beyond 64 bits, keys that are neither strings nor numbers, other
types ``json`` knows how to write) goes through ``json.dumps`` as before. Readers parse either
form alike. One difference: NaN and infinities, which JSON has not (``json.dumps`` writes
``NaN``, which PostgreSQL and the API's answers refuse), are written as ``null``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """``value`` as JSON text (``json.dumps`` would accept it, this gives the same data)."""
    return dumpb(value).decode()


def dumpb(value: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes (what is written to a file as it is)."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value).encode()
