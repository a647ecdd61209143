"""The syntax tree of a trigger expression, and its canonical text (``unparse``).

Trees are frozen and canonical: ``And`` and ``Or`` hold at least two items and never an item of
their own kind (``a && (b && c)`` is ``And((a, b, c))``). Build them with ``all_of`` /
``any_of``, which flatten. ``parse(unparse(tree)) == tree`` for every canonical tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from triggerfish.triggers.vocabulary import (
    GLOBAL_TIME_TYPES,
    QB_TIME_EPOCH_OFFSET,
    REPEAT_TYPES,
    TIME_EVENT_NAME,
)


@dataclass(frozen=True, slots=True)
class Atom:
    """An event pattern ``name-type-context[-extra]``, as written.

    ``context`` is ``self``, ``parent``, ``*`` (host atoms only), a label or a job id (digits,
    kept as written). ``extra`` is None when absent, ``*`` for any, ``$name`` for a pattern
    variable, otherwise the literal subjob id, work name or host name.
    """

    name: str
    type: str
    context: str
    extra: str | None = None

    @property
    def variable(self) -> str | None:
        """The pattern variable's name (without ``$``), or None."""
        extra = self.extra
        return extra[1:] if extra is not None and extra.startswith("$") else None

    @property
    def any_extra(self) -> bool:
        """True when the atom matches any extra (absent or ``*``)."""
        return self.extra is None or self.extra == "*"

    def __str__(self) -> str:
        return unparse(self)


@dataclass(frozen=True, slots=True)
class TimeAtom:
    """A time event (SPEC §3.4): ``name-time-self-T``, ``name-repeat-self-T-N``,
    ``globaltime-T``, ``globalrepeat-T-N`` (a leading ``name-`` is optional for the global ones).

    ``at`` is Qube time (int seconds since 2000-01-01 05:00 UTC) or an aware ``datetime``;
    ``every`` is the repeat interval in seconds (repeat types only).
    """

    name: str
    type: str
    at: int | datetime
    every: int | None = None

    @property
    def is_global(self) -> bool:
        """True for job-independent timers (``globaltime``, ``globalrepeat``)."""
        return self.type in GLOBAL_TIME_TYPES

    @property
    def repeats(self) -> bool:
        """True for ``repeat`` and ``globalrepeat``."""
        return self.type in REPEAT_TYPES

    def unix_time(self) -> float:
        """``at`` as seconds since the unix epoch."""
        if isinstance(self.at, datetime):
            return self.at.timestamp()
        return float(self.at + QB_TIME_EPOCH_OFFSET)

    @property
    def key_extra(self) -> str:
        """The extra of the atom's index key and of its time events: unix seconds (and
        ``-N`` for repeats), the same text whether T was written in Qube time or ISO-8601."""
        when = f"{self.unix_time():.6f}".rstrip("0").rstrip(".")
        return when if self.every is None else f"{when}-{self.every}"

    def __str__(self) -> str:
        return unparse(self)


@dataclass(frozen=True, slots=True)
class And:
    """True when every item is (``&&`` / ``AND``)."""

    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        _check_items(self, self.items)

    def __str__(self) -> str:
        return unparse(self)


@dataclass(frozen=True, slots=True)
class Or:
    """True when any item is (``||`` / ``OR``)."""

    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        _check_items(self, self.items)

    def __str__(self) -> str:
        return unparse(self)


Expr = Atom | TimeAtom | And | Or
AnyAtom = Atom | TimeAtom


def _check_items(node: And | Or, items: tuple[Expr, ...]) -> None:
    kind = type(node).__name__
    if len(items) < 2:
        raise ValueError(f"{kind} needs at least two items, got {len(items)}")
    if any(type(i) is type(node) for i in items):
        raise ValueError(f"{kind} may not hold an {kind} directly: build it with all_of/any_of")


def _flatten(kind: type[And] | type[Or], items: tuple[Expr, ...]) -> tuple[Expr, ...]:
    out: list[Expr] = []
    for item in items:
        if type(item) is kind:
            out.extend(item.items)
        else:
            out.append(item)
    return tuple(out)


def all_of(*items: Expr) -> Expr:
    """The canonical conjunction of ``items`` (one item is returned as is)."""
    flat = _flatten(And, items)
    return flat[0] if len(flat) == 1 else And(flat)


def any_of(*items: Expr) -> Expr:
    """The canonical disjunction of ``items`` (one item is returned as is)."""
    flat = _flatten(Or, items)
    return flat[0] if len(flat) == 1 else Or(flat)


def atoms(expr: Expr) -> Iterator[AnyAtom]:
    """The atoms of ``expr`` left to right; their position is their *atom number*."""
    if isinstance(expr, And | Or):
        for item in expr.items:
            yield from atoms(item)
    else:
        yield expr


def _time_text(at: int | datetime) -> str:
    return at.isoformat() if isinstance(at, datetime) else str(at)


def _unparse_time(atom: TimeAtom) -> str:
    when = _time_text(atom.at)
    if atom.every is not None:
        when = f"{when}-{atom.every}"
    if atom.is_global:
        prefix = "" if atom.name == TIME_EVENT_NAME else f"{atom.name}-"
        return f"{prefix}{atom.type}-{when}"
    return f"{atom.name}-{atom.type}-self-{when}"


def unparse(expr: Expr) -> str:
    """Canonical text of ``expr``: ``&&`` and ``||`` with single spaces, parentheses only
    where an ``Or`` sits inside an ``And``. Parsing it gives back an equal tree."""
    if isinstance(expr, Atom):
        head = f"{expr.name}-{expr.type}-{expr.context}"
        return head if expr.extra is None else f"{head}-{expr.extra}"
    if isinstance(expr, TimeAtom):
        return _unparse_time(expr)
    if isinstance(expr, And):
        return " && ".join(
            f"({unparse(i)})" if isinstance(i, Or) else unparse(i) for i in expr.items
        )
    return " || ".join(unparse(i) for i in expr.items)
