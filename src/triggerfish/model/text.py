"""Text that a store or JSON cannot hold: NUL and lone surrogates.

PostgreSQL refuses NUL in text and in JSON (``\\u0000``); neither UTF-8 nor a JSON answer can
carry a lone surrogate (``\\ud800`` alone), which Python's ``json`` reads without complaint.
Such text is refused where a request comes in (:func:`check_json`, naming the JSON path), and
replaced where refusing would wedge someone (:func:`scrub`: what a worker reports of a task's
result or error, which it cannot change).

The raw test :func:`suspect` is what makes the check cheap: a JSON body can carry a NUL or a
surrogate only as an escape (``\\u0000``, ``\\udXXX``), so a body without one needs no walk.
"""

from __future__ import annotations

import re
from typing import Any

from triggerfish.errors import ValidationError

REPLACEMENT = "\ufffd"
_BAD = re.compile("[\x00\ud800-\udfff]")
# the escapes that may spell a NUL or a surrogate in JSON text (a valid surrogate pair too: it
# is only a reason to look closer)
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def suspect(raw: bytes) -> bool:
    """Whether JSON text ``raw`` may hold a NUL or a lone surrogate once parsed."""
    return b"\\u" in raw and _SUSPECT.search(raw) is not None


def bad_text(text: str) -> str | None:
    """What is wrong with ``text`` for a store, or None: ``"a NUL character"`` or
    ``"a lone surrogate (\\udXXX)"``."""
    if text.isascii():
        return "a NUL character" if "\x00" in text else None
    m = _BAD.search(text)
    if m is None:
        return None
    ch = m.group()
    return "a NUL character" if ch == "\x00" else f"a lone surrogate (\\u{ord(ch):04x})"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def find_bad(value: Any, path: str = "") -> tuple[str, str] | None:
    """``(path, problem)`` of the first string (or key) in a JSON value a store cannot hold."""
    if isinstance(value, str):
        why = bad_text(value)
        return None if why is None else (path or "body", why)
    if isinstance(value, dict):
        for key, item in value.items():
            where = _join(path, scrub_text(str(key)))  # (the name is shown: as it can be)
            if isinstance(key, str) and (why := bad_text(key)) is not None:
                return where, f"{why} in a key"
            found = find_bad(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = find_bad(item, _join(path, i))
            if found is not None:
                return found
    return None


def refusal(field: str, problem: str) -> ValidationError:
    return ValidationError(f"{field}: text holds {problem}, which cannot be stored", field=field)


def check_json(value: Any, path: str = "") -> None:
    """Raise ValidationError naming the first string of ``value`` that holds a NUL or a lone
    surrogate (its JSON path below ``path``)."""
    found = find_bad(value, path)
    if found is not None:
        raise refusal(*found)


def scrub_text(text: str) -> str:
    """``text`` with each NUL and lone surrogate replaced by U+FFFD (a valid surrogate pair
    is kept as the character it spells)."""
    if text.isascii():
        return text.replace("\x00", REPLACEMENT) if "\x00" in text else text
    if _BAD.search(text) is None:
        return text
    # a pair, as Python's json reads it from two escapes, is one character again
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _BAD.sub(REPLACEMENT, text)


def scrub(value: Any, path: str, changed: list[str]) -> Any:
    """``value`` with :func:`scrub_text` applied to every string and key; the paths changed
    are appended to ``changed``."""
    if isinstance(value, str):
        out = scrub_text(value)
        if out is not value and out != value:
            changed.append(path)
        return out
    if isinstance(value, dict):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            where = _join(path, scrub_text(str(key)))
            if isinstance(key, str):
                new_key = scrub_text(key)
                if new_key != key:
                    changed.append(where)
                key = new_key
            result[key] = scrub(item, where, changed)
        return result
    if isinstance(value, list):
        return [scrub(item, _join(path, i), changed) for i, item in enumerate(value)]
    return value
