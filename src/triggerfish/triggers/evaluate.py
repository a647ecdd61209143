"""The firing rules of SPEC §3.3 as a pure state machine.

``Latches`` is the state of one callback (for the ``Program`` of its expression): its latched
atoms, per binding of the pattern variable, and its count. Feed it the atoms an event matched;
it returns the firings.

Rules:

- An atom latches when a matching event happens. When the expression becomes true the callback
  fires once, its count goes up and its latches reset, so it can fire again, up to ``maximum``.
  A one-atom expression therefore fires on every matching event.
- All atoms one event matches latch together before the expression is evaluated: one event
  causes at most one firing per binding (``a || a`` fires once per event).
- Pattern variable (at most one per expression, ``$f``): atoms carrying it latch per value;
  atoms without it (*plain* atoms) latch for every value. The callback fires for value v when
  the expression holds with v's latches plus the plain ones, then v's latches reset (the plain
  ones stay: they belong to every value). If the plain latches alone make the expression true,
  it fires once without a binding and the plain latches reset.
- Once ``count`` reaches ``maximum`` nothing latches or fires any more.

The state is JSON (``to_json`` / ``from_json``) so the engine can store it with the event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from triggerfish.errors import ValidationError
from triggerfish.triggers.keys import NO_BINDINGS
from triggerfish.triggers.program import Program


@dataclass(frozen=True, slots=True)
class Firing:
    """One firing: the callback's count after it (1 for the first) and the binding of the
    pattern variable (empty when none)."""

    count: int
    bindings: Mapping[str, str] = field(default_factory=lambda: NO_BINDINGS)


def _bits(mask: int) -> list[int]:
    return [n for n in range(mask.bit_length()) if mask >> n & 1]


class Latches:
    """The latch state of one callback (see the module docstring for the rules)."""

    __slots__ = ("_bound", "_plain", "count", "maximum", "program")

    def __init__(self, program: Program, *, maximum: int | None = None, count: int = 0) -> None:
        if maximum is not None and maximum < 1:
            raise ValidationError("maximum must be at least 1 (or unlimited)", field="maximum")
        self.program = program
        self.maximum = maximum
        self.count = count
        self._plain = 0  # latched plain atoms (bit mask)
        self._bound: dict[str, int] = {}  # value of the variable -> latched variable atoms

    # ---------------------------------------------------------------- queries

    @property
    def exhausted(self) -> bool:
        """True once the callback has fired ``maximum`` times."""
        return self.maximum is not None and self.count >= self.maximum

    @property
    def latched(self) -> frozenset[int]:
        """The latched atoms that carry no pattern variable."""
        return frozenset(_bits(self._plain))

    @property
    def pending(self) -> dict[str, frozenset[int]]:
        """Per value of the pattern variable, its latched atoms (not yet fired)."""
        return {value: frozenset(_bits(mask)) for value, mask in self._bound.items()}

    # ---------------------------------------------------------------- events

    def on_match(self, atom_no: int, bindings: Mapping[str, str] = NO_BINDINGS) -> list[Firing]:
        """One atom matched an event: latch it and return the firings it causes."""
        return self.on_event([(atom_no, bindings)])

    def on_event(self, matches: Iterable[tuple[int, Mapping[str, str]]]) -> list[Firing]:
        """The atoms (and bindings) one event matched: latch them all, then fire."""
        if self.exhausted:
            return []
        program = self.program
        before = self._plain
        touched: dict[str, None] = {}
        for atom_no, bindings in matches:
            if not 0 <= atom_no < program.size:
                raise ValueError(f"atom {atom_no} is not in the expression")
            bit = 1 << atom_no
            if bit & program.bound_mask:
                value = self._value(bindings)
                self._bound[value] = self._bound.get(value, 0) | bit
                touched[value] = None
            else:
                self._plain |= bit
        firings: list[Firing] = []
        candidates: Iterable[str] = touched
        if self._plain != before:
            if program.holds(self._plain):
                self._plain = 0
                self._fire(NO_BINDINGS, firings)
            elif self._bound:
                candidates = list(self._bound)  # a plain latch may complete any value
        for value in candidates:
            if self.exhausted:
                break
            mask = self._bound.get(value)
            if mask is not None and program.holds(self._plain | mask):
                del self._bound[value]
                self._fire({program.variable or "": value}, firings)
        return firings

    def _value(self, bindings: Mapping[str, str]) -> str:
        variable = self.program.variable
        assert variable is not None
        try:
            return bindings[variable]
        except KeyError:
            raise ValueError(f"a match of a ${variable} atom needs a value for it") from None

    def _fire(self, bindings: Mapping[str, str], firings: list[Firing]) -> None:
        self.count += 1
        firings.append(Firing(self.count, bindings))

    # ---------------------------------------------------------------- state

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-ready data: ``{"count": n, "latched": [atom numbers],
        "pending": {value: [atom numbers]}}``."""
        return {
            "count": self.count,
            "latched": _bits(self._plain),
            "pending": {value: _bits(mask) for value, mask in self._bound.items()},
        }

    @classmethod
    def from_json(
        cls, program: Program, data: Mapping[str, Any], *, maximum: int | None = None
    ) -> Latches:
        """The latches ``to_json`` gave, for the same expression."""
        try:
            latches = cls(program, maximum=maximum, count=int(data.get("count", 0)))
            latches._plain = _mask(program, data.get("latched", ()))
            latches._bound = {
                str(value): _mask(program, nos)
                for value, nos in dict(data.get("pending", {})).items()
            }
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"latch state does not fit the expression: {exc}") from None
        if latches._plain & program.bound_mask or any(
            m & ~program.bound_mask for m in latches._bound.values()
        ):
            raise ValidationError("latch state does not fit the expression")
        return latches

    def __repr__(self) -> str:
        return f"Latches({self.to_json()!r}, maximum={self.maximum!r})"


def _mask(program: Program, numbers: Iterable[Any]) -> int:
    mask = 0
    for n in numbers:
        no = int(n)
        if not 0 <= no < program.size:
            raise ValueError(f"atom {no} is not in the expression")
        mask |= 1 << no
    return mask
