"""``@task``: the mark a callable needs before a worker runs it as a task.

The mark is an attribute on the function, so it survives ``getattr`` on an instance (bound
methods forward attribute reads to their function). Workers refuse to call anything unmarked:
a task names code by a string, and only code its author marked may be reached that way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])
MARK = "__triggerfish_task__"
AMSOIL_MARK = "_outsideprocess"  # what AMsoil's @worker.outsideprocess sets


@overload
def task(fn: F) -> F: ...
@overload
def task(fn: None = None) -> Callable[[F], F]: ...


def task(fn: F | None = None) -> F | Callable[[F], F]:
    """Mark ``fn`` as a task; use as ``@task`` or ``@task()``. Returns ``fn`` unchanged."""

    def mark(f: F) -> F:
        if not callable(f):
            raise TypeError(f"@task needs a callable, got {type(f).__name__}")
        setattr(f, MARK, True)
        setattr(f, AMSOIL_MARK, True)
        return f

    return mark if fn is None else mark(fn)


def is_task(obj: object) -> bool:
    """True when ``obj`` was marked with ``@task`` (or AMsoil's ``outsideprocess``)."""
    return bool(getattr(obj, MARK, False) or getattr(obj, AMSOIL_MARK, False))
