"""Resolving an expression for one job: contexts → job ids, atoms → index keys.

``self`` is the job, ``parent`` its ``pid``, a label the job of that label in the pgrp, digits
a job id, ``*`` any job (host atoms). An atom whose label no job of the pgrp has yet *waits*:
it has no key until ``Compiled.resolve(label, job_id)`` is called for a job joining the pgrp
with that label. A time atom's key is ``(name, type, job or None for global ones,
TimeAtom.key_extra)``: the engine's timer emits a time event carrying that extra, which the
index matches like any other event.

``done`` atoms get keys named ``done``: the engine emits a ``done`` event right after every
terminal event (complete, failed, killed), so the index needs no alias.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from triggerfish.triggers.ast import AnyAtom, Atom, Expr, TimeAtom, atoms
from triggerfish.triggers.errors import TriggerCompileError
from triggerfish.triggers.keys import Key
from triggerfish.triggers.program import Program
from triggerfish.triggers.vocabulary import ANY, PARENT, SELF, closest


class _Waiting:
    """Marker: the atom's label names no job yet."""


_WAIT = _Waiting()


@dataclass(frozen=True, slots=True)
class Compiled:
    """An expression resolved for one job.

    ``keys[n]`` is the index key of atom ``n``, or None for an atom whose label waits (listed
    in ``waiting``).
    """

    expr: Expr
    atoms: tuple[AnyAtom, ...]
    keys: tuple[Key | None, ...]
    waiting: tuple[tuple[int, str], ...]  # (atom number, label) of atoms not yet resolved
    program: Program = field(repr=False)

    @property
    def waiting_labels(self) -> frozenset[str]:
        """Labels no job of the pgrp has yet."""
        return frozenset(label for _, label in self.waiting)

    @property
    def variable(self) -> str | None:
        """The pattern variable of the expression (without ``$``), or None."""
        return self.program.variable

    def entries(self) -> Iterator[tuple[int, Key]]:
        """``(atom number, key)`` of every atom to put in the index."""
        for no, key in enumerate(self.keys):
            if key is not None:
                yield no, key

    @property
    def has_timers(self) -> bool:
        """True when the expression has a time atom."""
        return any(isinstance(atom, TimeAtom) for atom in self.atoms)

    def timers(self) -> Iterator[tuple[int, TimeAtom]]:
        """``(atom number, time atom)`` of every time atom, for the timer machinery."""
        for no, atom in enumerate(self.atoms):
            if isinstance(atom, TimeAtom):
                yield no, atom

    def resolve(self, label: str, job_id: int) -> Compiled:
        """A copy where the atoms waiting for ``label`` name ``job_id`` (self if none wait).

        The new entries are those of ``newly_resolved(label)`` on this object."""
        if all(waiting != label for _, waiting in self.waiting):
            return self
        keys = list(self.keys)
        for no, waiting in self.waiting:
            if waiting == label:
                atom = self.atoms[no]
                assert isinstance(atom, Atom)
                keys[no] = _key(atom, job_id)
        still = tuple(w for w in self.waiting if w[1] != label)
        return replace(self, keys=tuple(keys), waiting=still)

    def newly_resolved(self, label: str) -> tuple[int, ...]:
        """Atom numbers ``resolve(label, …)`` gives a key to."""
        return tuple(no for no, waiting in self.waiting if waiting == label)


def _intern(s: str | None) -> str | None:
    return None if s is None else sys.intern(s)


def _key(atom: Atom, job: int | None) -> Key:
    extra = None if atom.any_extra or atom.type == "job" else atom.extra
    return (sys.intern(atom.name), sys.intern(atom.type), job, _intern(extra))


def time_key(atom: TimeAtom, job: int | None) -> Key:
    """The index key of a time atom (``job`` None for global ones)."""
    return (sys.intern(atom.name), sys.intern(atom.type), job, atom.key_extra)


def _job_of(
    atom: AnyAtom, job_id: int | None, parent: int | None, labels: Mapping[str, int]
) -> int | _Waiting | None:
    context = atom.context if isinstance(atom, Atom) else (None if atom.is_global else SELF)
    if context is None or context == ANY:
        return None
    if context == SELF:
        if job_id is None:
            raise TriggerCompileError(
                f"'{atom}' names 'self', but a global callback has no job", field="triggers"
            )
        return job_id
    if context == PARENT:
        if parent is None:
            raise TriggerCompileError(
                f"'{atom}' names 'parent', but the job has no parent (pid)", field="triggers"
            )
        return parent
    if context.isascii() and context.isdigit():
        return int(context)
    found = labels.get(context)
    return _WAIT if found is None else found


def compile_expr(
    expr: Expr, *, job_id: int | None, parent: int | None, labels: Mapping[str, int]
) -> Compiled:
    """Resolve ``expr`` for job ``job_id`` (None for a global callback) whose parent is
    ``parent``, ``labels`` mapping the labels of its pgrp to job ids.

    Raises TriggerCompileError for ``self`` without a job, ``parent`` without a parent.
    """
    listed = tuple(atoms(expr))
    keys: list[Key | None] = []
    waiting: list[tuple[int, str]] = []
    for no, atom in enumerate(listed):
        job = _job_of(atom, job_id, parent, labels)
        if isinstance(atom, TimeAtom):
            assert not isinstance(job, _Waiting)
            keys.append(time_key(atom, job))
        elif isinstance(job, _Waiting):
            keys.append(None)
            waiting.append((no, atom.context))
        else:
            keys.append(_key(atom, job))
    return Compiled(expr, listed, tuple(keys), tuple(waiting), Program.of(expr, listed))


def label_warnings(compiled: Compiled, labels: Mapping[str, int]) -> list[str]:
    """One warning per waiting label, naming the closest existing label of the pgrp if any
    (labels are case-sensitive: ``ribgen`` does not name ``ribGen``)."""
    out = []
    for label in sorted(compiled.waiting_labels):
        guess = closest(label, labels)
        hint = f" (did you mean '{guess}'?)" if guess else ""
        out.append(
            f"no job of the process group has the label '{label}'{hint}; "
            "its atoms wait for a job with that label to join"
        )
    return out
