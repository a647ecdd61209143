"""The words of the trigger language: event names, event types, contexts, Qube time.

One place for every vocabulary the parser, the compiler and the catch-up rules check against.
Event names outside ``EVENT_NAMES`` are allowed (SPEC §2: user-defined events may be signalled
through the API) but earn a warning; types outside ``TYPES`` are errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from triggerfish.model.status import TERMINAL

# Seconds from the unix epoch to the Qube epoch (2000-01-01 05:00 UTC): qube = unix - offset.
QB_TIME_EPOCH_OFFSET = 946702800

# Types of the events objects emit (SPEC §2). An atom of these types is `name-type-context[-x]`.
OBJECT_TYPES: frozenset[str] = frozenset({"job", "subjob", "work", "host"})
# Job-bound time types (`dummy-time-self-T`, `dummy-repeat-self-T-N`) and global ones
# (`globaltime-T`, `globalrepeat-T-N`), SPEC §3.4.
JOB_TIME_TYPES: frozenset[str] = frozenset({"time", "repeat"})
GLOBAL_TIME_TYPES: frozenset[str] = frozenset({"globaltime", "globalrepeat"})
TIME_TYPES: frozenset[str] = JOB_TIME_TYPES | GLOBAL_TIME_TYPES
REPEAT_TYPES: frozenset[str] = frozenset({"repeat", "globalrepeat"})
TYPES: frozenset[str] = OBJECT_TYPES | TIME_TYPES

# The default (and Qube's only documented) name of a time event.
TIME_EVENT_NAME = "dummy"

_STATUS_EVENTS = frozenset(
    {"pending", "blocked", "waiting", "running", "complete", "failed", "killed", "suspended"}
)

# Which event names the supervisor emits for each type (`done` follows every terminal event).
EVENTS_BY_TYPE: dict[str, frozenset[str]] = {
    "job": _STATUS_EVENTS | {"submit", "done", "removed", "modified", "preflight", "postflight"},
    "subjob": _STATUS_EVENTS | {"retry", "done", "timeout", "preempt"},
    "work": _STATUS_EVENTS | {"retry", "done", "timeout", "preempt"},
    "host": frozenset({"up", "down", "disabled", "assigned", "lock", "unlock", "check"}),
    "time": frozenset({TIME_EVENT_NAME}),
    "repeat": frozenset({TIME_EVENT_NAME}),
    "globaltime": frozenset({TIME_EVENT_NAME}),
    "globalrepeat": frozenset({TIME_EVENT_NAME}),
}

# Every event name triggerfish emits; other lowercase words are user-defined signals.
EVENT_NAMES: frozenset[str] = frozenset().union(*EVENTS_BY_TYPE.values())

# Names that denote a terminal state (SPEC §3.3 catch-up); `done` = any of TERMINAL.
TERMINAL_STATUSES: frozenset[str] = TERMINAL
TERMINAL_NAMES: frozenset[str] = TERMINAL | {"done"}

# Contexts with a fixed meaning; anything else is a label or a job id.
SELF = "self"
PARENT = "parent"
ANY = "*"

# Human-readable list of the types, in the order the docs give them.
TYPE_ORDER: tuple[str, ...] = (
    "job",
    "subjob",
    "work",
    "host",
    "time",
    "repeat",
    "globaltime",
    "globalrepeat",
)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` (case-insensitive), if one is reasonably close."""
    pool = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(pool), n=1, cutoff=0.6)
    return pool[found[0]] if found else None


def name_warning(name: str, type_: str) -> str | None:
    """A warning for an event name the supervisor never emits for ``type_``, or None."""
    emitted = EVENTS_BY_TYPE.get(type_, EVENT_NAMES)
    if name in emitted:
        return None
    if name in EVENT_NAMES:
        return f"no '{name}' event is emitted for type '{type_}'"
    hint = closest(name, emitted)
    did_you_mean = f" (did you mean '{hint}'?)" if hint else ""
    return (
        f"'{name}' is not an event triggerfish emits{did_you_mean}; "
        "only a user-defined signal of that name can match it"
    )
