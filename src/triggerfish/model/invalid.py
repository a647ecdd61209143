"""pydantic's validation errors, said our way: one ValidationError naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from triggerfish.errors import ValidationError

# Names pydantic puts in a location for the member of a union it tried: not fields.
_UNION_MEMBERS = frozenset({"str", "WorkSpec", "list[union[WorkSpec,str]]"})


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _UNION_MEMBERS:
            out += f".{part}" if out else str(part)
    return out


def describe(err: Mapping[str, Any], where: str = "") -> tuple[str, str]:
    """``(field, "field: message")`` of one pydantic error, its field prefixed with ``where``."""
    loc = _loc(tuple(err["loc"]))
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    if err["type"] == "code":  # a callback's code, checked together with its language
        loc, msg = f"{loc}.code" if loc else "code", msg.removeprefix("code: ")
    field = ".".join(p for p in (where, loc) if p) or "body"
    return field, f"{field}: {msg}"


def invalid(exc: pydantic.ValidationError, where: str = "") -> ValidationError:
    """The first problem of ``exc``, its field prefixed with ``where`` (``jobs[1]``)."""
    field, message = describe(exc.errors()[0], where)
    return ValidationError(message, field=field)
