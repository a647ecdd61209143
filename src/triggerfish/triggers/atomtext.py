"""Reading one atom token: ``name-type-context[-extra]`` and the time atoms of SPEC §3.4.

The lark grammar hands over each atom as one token; this module splits it at its first three
dashes (the extra keeps any further dash: ``complete-work-render-1-10`` has extra ``1-10``),
checks every field and reports errors at the column of the faulty field.
"""

from __future__ import annotations

import re
from datetime import datetime

from triggerfish.triggers.ast import AnyAtom, Atom, TimeAtom
from triggerfish.triggers.errors import TriggerSyntaxError, describe
from triggerfish.triggers.vocabulary import (
    ANY,
    GLOBAL_TIME_TYPES,
    JOB_TIME_TYPES,
    OBJECT_TYPES,
    PARENT,
    REPEAT_TYPES,
    SELF,
    TIME_EVENT_NAME,
    TYPE_ORDER,
    TYPES,
    closest,
    name_warning,
)

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_LABEL = re.compile(r"[A-Za-z0-9_.]+\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
_VARIABLE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*\Z")

MAX_ID_DIGITS = 18  # job ids, subjob ids
MAX_TIME_DIGITS = 12  # Qube times and repeat intervals
_TYPES_TEXT = ", ".join(TYPE_ORDER[:-1]) + " or " + TYPE_ORDER[-1]


def is_digits(s: str, limit: int = MAX_ID_DIGITS) -> bool:
    """True for 1 to ``limit`` ASCII digits."""
    return len(s) <= limit and _DIGITS.match(s) is not None


class _Reader:
    """Reads one atom token found at ``start`` in ``text``."""

    def __init__(self, text: str, start: int, token: str) -> None:
        self.text = text
        self.start = start
        self.token = token
        self.warnings: list[str] = []

    def fail(self, at: int, expected: str, got: str, hint: str = "") -> TriggerSyntaxError:
        shown = repr(got) if got else "nothing"
        return TriggerSyntaxError(
            f"expected {expected}, got {shown}{hint}",
            text=self.text,
            offset=self.start + at,
            expected=[expected],
            got=got,
        )

    def warn(self, at: int, message: str) -> None:
        self.warnings.append(f"{describe(self.start + at, self.text)}: {message}")

    # ---------------------------------------------------------------- fields

    def name(self, name: str) -> str:
        if _NAME.match(name) is None:
            hint = " (event names are lowercase)" if _NAME.match(name.lower()) else ""
            raise self.fail(0, "an event name (a lowercase word)", name, hint)
        return name

    def type(self, type_: str, at: int) -> str:
        if type_ not in TYPES:
            guess = closest(type_, TYPES)
            hint = f" (did you mean '{guess}'?)" if guess else ""
            raise self.fail(at, f"an event type ({_TYPES_TEXT})", type_, hint)
        return type_

    def context(self, context: str, type_: str, at: int) -> str:
        if context in (SELF, PARENT):
            return context
        if context == ANY:
            if type_ == "host":
                return context
            raise self.fail(
                at, "a context: self, parent, a label or a job id", context, " ('*' is for hosts)"
            )
        if is_digits(context):
            if int(context) == 0:
                raise self.fail(at, "a job id (job ids start at 1)", context)
            return context
        if _LABEL.match(context) is None or _DIGITS.match(context):
            raise self.fail(
                at,
                "a context: self, parent, a label (letters, digits, '_', '.') or a job id",
                context,
            )
        return context

    def extra(self, extra: str, type_: str, at: int) -> str:
        if extra == ANY:
            return extra
        if type_ == "job":
            raise self.fail(at, "no extra after a job atom (or '*')", extra)
        if extra.startswith("$"):
            if _VARIABLE.match(extra) is None:
                raise self.fail(
                    at, "a pattern variable: '$' and a name (letters, digits, '_')", extra
                )
            return extra
        if not extra:
            raise self.fail(at, f"the {_EXTRA_WHAT[type_]} after '-'", extra)
        if type_ == "subjob" and not is_digits(extra):
            raise self.fail(at, "a subjob id (digits), '*' or a pattern variable", extra)
        if "*" in extra or "$" in extra:
            raise self.fail(
                at, f"a {_EXTRA_WHAT[type_]} without '*' or '$'", extra, " ('*' alone matches any)"
            )
        return extra

    def when(self, value: str, at: int) -> int | datetime:
        if _DIGITS.match(value):
            if len(value) > MAX_TIME_DIGITS:
                raise self.fail(at, f"a Qube time of at most {MAX_TIME_DIGITS} digits", value)
            return int(value)
        expected = "a time: Qube seconds or an ISO-8601 timestamp with zone"
        try:
            moment = datetime.fromisoformat(value)
        except (ValueError, OverflowError):
            raise self.fail(at, expected, value) from None
        if moment.utcoffset() is None:
            raise self.fail(at, expected, value, " (add a zone: Z or +hh:mm)")
        return moment

    # ---------------------------------------------------------------- atoms

    def time_atom(self, name: str, type_: str, rest: str, at: int) -> TimeAtom:
        if type_ not in REPEAT_TYPES:
            return TimeAtom(name, type_, self.when(rest, at))
        when, dash, every = rest.rpartition("-")
        if not dash or not when:
            raise self.fail(at, "'T-N': a time, '-' and an interval in seconds", rest)
        every_at = at + len(when) + 1
        if not is_digits(every, MAX_TIME_DIGITS) or int(every) == 0:
            raise self.fail(every_at, "an interval N in seconds (at least 1)", every)
        return TimeAtom(name, type_, self.when(when, at), int(every))

    def global_atom(self, name: str, type_: str, at: int) -> TimeAtom:
        rest_at = at + len(type_) + 1
        if rest_at > len(self.token):
            raise self.fail(at + len(type_), f"'-' and a time after '{type_}'", "")
        return self.time_atom(name, type_, self.token[rest_at:], rest_at)

    def read(self) -> AnyAtom:
        token = self.token
        fields = token.split("-", 3)
        if fields[0] in GLOBAL_TIME_TYPES:
            return self.global_atom(TIME_EVENT_NAME, fields[0], 0)
        if len(fields) >= 2 and fields[1] in GLOBAL_TIME_TYPES:
            name = self.name(fields[0])
            self.check_name(name, fields[1])
            return self.global_atom(name, fields[1], len(name) + 1)
        if len(fields) < 3:
            raise self.fail(0, "an atom 'name-type-context[-extra]'", token)
        name, type_, context = fields[:3]
        type_at = len(name) + 1
        context_at = type_at + len(type_) + 1
        extra_at = context_at + len(context) + 1
        self.name(name)
        self.type(type_, type_at)
        self.check_name(name, type_)
        if type_ in JOB_TIME_TYPES:
            if context != SELF:
                raise self.fail(context_at, "'self' (a time atom belongs to its job)", context)
            if len(fields) < 4:
                raise self.fail(extra_at - 1, f"'-' and a time after '{type_}-self'", "")
            return self.time_atom(name, type_, fields[3], extra_at)
        assert type_ in OBJECT_TYPES
        self.context(context, type_, context_at)
        extra = self.extra(fields[3], type_, extra_at) if len(fields) == 4 else None
        return Atom(name, type_, context, extra)

    def check_name(self, name: str, type_: str) -> None:
        warning = name_warning(name, type_)
        if warning is not None:
            self.warn(0, warning)


_EXTRA_WHAT = {"subjob": "subjob id", "work": "work name", "host": "host name"}


def read_atom(text: str, start: int, token: str) -> tuple[AnyAtom, list[str]]:
    """The atom of ``token`` (found at offset ``start`` of ``text``) and its warnings.

    Raises TriggerSyntaxError pointing at the faulty field.
    """
    reader = _Reader(text, start, token)
    atom = reader.read()
    return atom, reader.warnings
