"""The shape of one expression, as the evaluator needs it: which atoms, joined how, and which
carry the pattern variable. Atom numbers are positions in ``ast.atoms(expr)`` (left to right);
a set of latched atoms is an int bit mask.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from triggerfish.triggers.ast import And, AnyAtom, Atom, Expr, Or, atoms

# A node of the evaluation tree: (is_and, mask of its atom children, sub-nodes).
_Node = tuple[bool, int, tuple["_Node", ...]]


def _node(expr: Expr, numbers: Iterable[int]) -> _Node:
    counter = iter(numbers)

    def build(e: Expr) -> _Node:
        if not isinstance(e, And | Or):
            return (False, 1 << next(counter), ())
        mask, subs = 0, []
        for item in e.items:
            if isinstance(item, And | Or):
                subs.append(build(item))
            else:
                mask |= 1 << next(counter)
        return (isinstance(e, And), mask, tuple(subs))

    return build(expr)


def _holds(node: _Node, latched: int) -> bool:
    is_and, mask, subs = node
    if is_and:
        return latched & mask == mask and all(_holds(s, latched) for s in subs)
    return latched & mask != 0 or any(_holds(s, latched) for s in subs)


@dataclass(frozen=True, slots=True)
class Program:
    """What the evaluator needs of an expression (see the module docstring)."""

    size: int
    variable: str | None
    bound_mask: int  # bit n set: atom n carries the pattern variable
    _tree: _Node = field(repr=False)

    @classmethod
    def of(cls, expr: Expr, listed: Sequence[AnyAtom] | None = None) -> Program:
        """The program of ``expr`` (a parsed, canonical tree); ``listed`` is ``atoms(expr)``
        when the caller has it already."""
        if listed is None:
            listed = list(atoms(expr))
        variable, bound = None, 0
        for no, atom in enumerate(listed):
            if isinstance(atom, Atom) and atom.variable is not None:
                variable = atom.variable
                bound |= 1 << no
        # atoms() and _node() visit atoms in the same left-to-right order
        return cls(len(listed), variable, bound, _node(expr, range(len(listed))))

    def holds(self, latched: int) -> bool:
        """True when the expression is true with the atoms of bit mask ``latched``."""
        return _holds(self._tree, latched)
