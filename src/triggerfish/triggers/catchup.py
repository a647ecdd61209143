"""Catch-up (SPEC §3.3, extension): atoms naming a terminal state already reached start latched.

An atom ``complete|failed|killed|done-{job|subjob|work}-X[-extra]`` whose job (item, instance)
is already in that state when the callback is registered (or when its label resolves) latches at
once; ``done`` means any of complete, failed, killed. Feed the result to ``Latches.on_event``.

- Literal extras ask ``status_of(type, job, extra)``.
- A pattern variable (``complete-work-ribgen-$f``) latches once per item already in the state,
  binding its name; this needs ``items_of(type, job)``.
- Wildcard extras (``done-work-X-*``) do not catch up: they stand for "each event", and past
  events are not replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

from triggerfish.triggers.compile import Compiled
from triggerfish.triggers.keys import NO_BINDINGS, Key, key_variable
from triggerfish.triggers.vocabulary import TERMINAL_NAMES, TERMINAL_STATUSES

# (type, job id, extra or None for the job) -> its status, or None when it does not exist.
StatusOf = Callable[[str, int, str | None], str | None]
# (type, job id) -> (extra, status) of each work item or instance of the job.
ItemsOf = Callable[[str, int], Iterable[tuple[str, str]]]

_CATCH_UP_TYPES = frozenset({"job", "subjob", "work"})


def reached(name: str, status: str | None) -> bool:
    """True when an object in ``status`` has passed the event ``name`` for good."""
    if name == "done":
        return status in TERMINAL_STATUSES
    return status == name and name in TERMINAL_STATUSES


def _catches_up(key: Key) -> bool:
    name, type_, job, _ = key
    return name in TERMINAL_NAMES and type_ in _CATCH_UP_TYPES and job is not None


def starts_latched(key: Key, status_of: StatusOf) -> bool:
    """True when the atom of ``key`` (literal or absent extra) starts latched."""
    if not _catches_up(key):
        return False
    name, type_, job, extra = key
    assert job is not None
    if type_ == "job":
        return reached(name, status_of("job", job, None))
    if extra is None or key_variable(key) is not None:
        return False
    return reached(name, status_of(type_, job, extra))


def catch_up(
    compiled: Compiled,
    status_of: StatusOf,
    items_of: ItemsOf | None = None,
    *,
    only: Collection[int] | None = None,
) -> list[tuple[int, Mapping[str, str]]]:
    """The ``(atom number, bindings)`` that start latched, for ``Latches.on_event``.

    ``only`` limits the check to some atoms (e.g. those a label resolution just gave a key).
    Pattern-variable atoms catch up only when ``items_of`` is given.
    """
    out: list[tuple[int, Mapping[str, str]]] = []
    for no, key in compiled.entries():
        if only is not None and no not in only:
            continue
        variable = key_variable(key)
        if variable is None:
            if starts_latched(key, status_of):
                out.append((no, NO_BINDINGS))
        elif items_of is not None and _catches_up(key):
            name, type_, job, _ = key
            assert job is not None
            out.extend(
                (no, {variable: extra})
                for extra, status in items_of(type_, job)
                if reached(name, status)
            )
    return out
