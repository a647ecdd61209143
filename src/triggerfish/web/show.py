"""How the hosts, tasks and events pages show values: times, spans, JSON in brief."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

BRIEF = 120  # characters of a value shown in a cell (all of it in its title)
_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def clock(t: float | None) -> str:
    """A time as UTC ``YYYY-MM-DD HH:MM:SS`` ('' for none)."""
    if t is None:
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(t: float | None) -> str:
    """A time for a ``<time datetime>`` attribute."""
    return "" if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def span(seconds: float | None) -> str:
    """A span in its two largest units: ``1 h 30 min``, ``45 s``, ``2 d``."""
    if seconds is None:
        return ""
    left: int = round(seconds)
    parts: list[str] = []
    for unit, size in _UNITS:
        if left >= size and len(parts) < 2:
            parts.append(f"{left // size} {unit}")
            left %= size
    return " ".join(parts) or f"{seconds:g} s"


def age(t: float | None, now: float | None = None) -> str:
    """How long ago a time was, as the page's script says it (``tf.age``): ``3 s``, ``5 min``."""
    if t is None:
        return ""
    s = max(0.0, (time.time() if now is None else now) - t)
    for unit, size in _UNITS:
        if s >= size or unit == "s":
            return f"{int(s // size)} {unit}"
    return ""  # (not reached)


def until(t: float | None, now: float | None = None) -> str:
    """How far ahead a time is: ``in 5 min`` (``due`` once passed)."""
    if t is None:
        return ""
    ahead = t - (time.time() if now is None else now)
    return f"in {span(ahead)}" if ahead >= 1 else "due"


def brief(value: Any, limit: int = BRIEF) -> str:
    """A value as compact JSON (a string as it is), cut to ``limit`` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def prop(name: str, value: Any) -> str:
    """A host property: ``memory`` (bytes) in GiB, anything else in brief."""
    if name == "memory" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value / 2**30:.1f} GiB"
    return brief(value, 40)


def full(value: Any) -> str:
    """A value in full, for a title (hover)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, indent=1)
