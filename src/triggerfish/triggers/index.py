"""The trigger index: from an event to the atoms it matches, without scanning callbacks.

An event ``(name, type, job, extra)`` can only match atoms under one of at most four keys
(its job or any job, combined with its extra or any extra) or under a pattern-variable key of
its job or of any job. ``match`` first looks up the ``(name, type)`` at all (a ``_Kind``: how
many keys of each of the six *shapes* exist, and its per-job tables), then probes only the
tables that can hold them: at most four (the job's, any job's, and the pattern-variable
buckets of both), each answering with one or two lookups, whatever the number of registered
atoms that cannot match. ``probes`` counts the table lookups (the ``(name, type)`` one
included).

Storage: ``(name, type)`` → job id (None: any job) → a ``Table`` of plain atoms (see
``triggers.table``: frame numbers in a flat array, two packed ints per frame, so that a
million keys hit at random cost one cache miss each, not four; other extras in a dict) and a
bucket of pattern-variable atoms ``callback_id -> (variable, atom number(s))``. The job is an
int key of its own dict: a lookup allocates no tuple. Key tuples are kept by reference (for
``remove``): keys shared with the caller's ``Compiled`` objects cost nothing more.
"""

from __future__ import annotations

from triggerfish.triggers.keys import Key, Match, key_variable
from triggerfish.triggers.table import (
    ATOM_BITS,
    SMALL_BUCKET,
    Atoms,
    Table,
    atom_count,
    collect_bucket,
    with_atom,
)

__all__ = ["MAX_ATOMS", "SMALL_BUCKET", "Match", "TriggerIndex", "shape"]

MAX_ATOMS = 1 << ATOM_BITS  # atoms per expression

# Shapes of keys, by which of job / extra are given: index into ``_Kind.counts``.
EXACT, ANY_EXTRA, ANY_JOB, ANY_BOTH, VAR_JOB, VAR_ANY = range(6)

_VarBucket = dict[int, tuple[str, Atoms]]  # callback id -> (variable, atom number(s))


def shape(key: Key) -> int:
    """Which of the six shapes ``key`` has (EXACT … VAR_ANY)."""
    job, extra = key[2], key[3]
    if extra is not None and extra.startswith("$"):
        return VAR_JOB if job is not None else VAR_ANY
    return (ANY_JOB if job is None else EXACT) + (ANY_EXTRA if extra is None else 0)


class _Kind:
    """The atoms of one ``(name, type)``."""

    __slots__ = ("counts", "jobs", "vars")

    def __init__(self) -> None:
        self.counts = [0] * 6  # distinct keys of each shape
        self.jobs: dict[int | None, Table] = {}
        self.vars: dict[int | None, _VarBucket] = {}


class TriggerIndex:
    """Atoms of registered callbacks, keyed for matching events (see the module docstring)."""

    __slots__ = ("_kinds", "_owned", "_size", "probes")

    def __init__(self) -> None:
        self._kinds: dict[tuple[str, str], _Kind] = {}
        # callback id -> its key, or its keys: what remove() visits
        self._owned: dict[int, Key | tuple[Key, ...]] = {}
        self._size = 0
        self.probes = 0  # dictionary lookups done by match(), for tests and benchmarks

    def __len__(self) -> int:
        """Number of registered (callback, atom) pairs."""
        return self._size

    def __contains__(self, callback_id: object) -> bool:
        return callback_id in self._owned

    def _kind(self, key: Key) -> _Kind:
        kind = self._kinds.get((key[0], key[1]))
        if kind is None:
            kind = self._kinds[(key[0], key[1])] = _Kind()
        return kind

    def _shape_count(self, kind: _Kind, key: Key, delta: int) -> None:
        kind.counts[shape(key)] += delta
        if not any(kind.counts):
            del self._kinds[(key[0], key[1])]

    # ---------------------------------------------------------------- registration

    def add(self, callback_id: int, atom_no: int, key: Key) -> None:
        """Register atom ``atom_no`` of callback ``callback_id`` under ``key``.

        Each atom has one key (as ``Compiled.entries`` gives them) and a callback one pattern
        variable; adding the same (callback, atom, key) again changes nothing.
        """
        if not 0 <= atom_no < MAX_ATOMS:
            raise ValueError(f"atom number {atom_no} out of range (0..{MAX_ATOMS - 1})")
        if callback_id < 0:
            raise ValueError("callback ids are non-negative")
        variable = key_variable(key)
        if variable is None:
            added = self._add_plain(callback_id, atom_no, key)
        else:
            added = self._add_variable(callback_id, atom_no, key, variable)
        if added:
            self._size += 1
            self._own(callback_id, key)

    def _add_plain(self, callback_id: int, atom_no: int, key: Key) -> bool:
        kind = self._kind(key)
        table = kind.jobs.get(key[2])
        if table is None:
            table = kind.jobs[key[2]] = Table()
        added, new_key = table.add(key[3], callback_id << ATOM_BITS | atom_no)
        if new_key:
            self._shape_count(kind, key, 1)
        return added

    def _add_variable(self, callback_id: int, atom_no: int, key: Key, variable: str) -> bool:
        kind = self._kind(key)
        bucket = kind.vars.get(key[2])
        if bucket is None:
            bucket = kind.vars[key[2]] = {}
            self._shape_count(kind, key, 1)
        entry = bucket.get(callback_id)
        if entry is not None and entry[0] != variable:
            raise ValueError(f"callback {callback_id} already uses ${entry[0]}, not ${variable}")
        atoms = None if entry is None else entry[1]
        merged = with_atom(atoms, atom_no)
        bucket[callback_id] = (variable, merged)
        return merged != atoms

    def _own(self, callback_id: int, key: Key) -> None:
        owned = self._owned.get(callback_id)
        if owned is None:
            self._owned[callback_id] = key
        elif isinstance(owned[0], tuple):  # a tuple of keys
            if key not in owned:
                self._owned[callback_id] = (*owned, key)
        elif owned != key:
            self._owned[callback_id] = (owned, key)

    def remove(self, callback_id: int) -> int:
        """Forget every atom of ``callback_id``; returns how many were registered."""
        owned = self._owned.pop(callback_id, None)
        if owned is None:
            return 0
        keys: tuple[Key, ...] = owned if isinstance(owned[0], tuple) else (owned,)
        removed = 0
        for key in keys:
            kind = self._kinds.get((key[0], key[1]))
            if kind is None:
                continue
            if key_variable(key) is None:
                removed += self._remove_plain(kind, callback_id, key)
            else:
                removed += self._remove_variable(kind, callback_id, key)
        self._size -= removed
        return removed

    def _remove_plain(self, kind: _Kind, callback_id: int, key: Key) -> int:
        table = kind.jobs.get(key[2])
        if table is None:
            return 0
        removed, gone = table.remove(key[3], callback_id)
        if gone:
            if not table:
                del kind.jobs[key[2]]
            self._shape_count(kind, key, -1)
        return removed

    def _remove_variable(self, kind: _Kind, callback_id: int, key: Key) -> int:
        bucket = kind.vars.get(key[2])
        if bucket is None:
            return 0
        entry = bucket.pop(callback_id, None)
        if not bucket:
            del kind.vars[key[2]]
            self._shape_count(kind, key, -1)
        return 0 if entry is None else atom_count(entry[1])

    # ---------------------------------------------------------------- matching

    def match(self, name: str, type_: str, job: int | None, extra: str | None) -> list[Match]:
        """Every registered atom the event ``(name, type, job, extra)`` matches.

        ``job`` None: the event belongs to no job (a host coming up); ``extra`` None: the event
        has no extra (job events). Results come bucket by bucket: the job's atoms for this
        extra, for any extra; any job's for this extra, for any extra; then pattern variables
        (of the job, then of any job).
        """
        kind = self._kinds.get((name, type_))
        if kind is None:
            self.probes += 1
            return []
        counts = kind.counts
        jobs = kind.jobs
        out: list[Match] = []
        probes = 1
        if extra is None:
            self.probes += probes + _match_no_extra(out, kind, job)
            return out
        if job is not None and (counts[EXACT] or counts[ANY_EXTRA]):
            probes += 1
            table = jobs.get(job)
            if table is not None:
                if counts[EXACT]:
                    table.collect(out, extra)
                if counts[ANY_EXTRA]:
                    collect_bucket(out, table.text.get(None))
        if counts[ANY_JOB] or counts[ANY_BOTH]:
            probes += 1
            table = jobs.get(None)
            if table is not None:
                if counts[ANY_JOB]:
                    table.collect(out, extra)
                if counts[ANY_BOTH]:
                    collect_bucket(out, table.text.get(None))
        if counts[VAR_JOB] and job is not None:
            probes += 1
            _collect_variables(out, kind.vars.get(job), extra)
        if counts[VAR_ANY]:
            probes += 1
            _collect_variables(out, kind.vars.get(None), extra)
        self.probes += probes
        return out


def _match_no_extra(out: list[Match], kind: _Kind, job: int | None) -> int:
    """:meth:`TriggerIndex.match` for an event without extra: the atoms for any extra (of the
    job, then of any job) into ``out``; the probes made."""
    counts = kind.counts
    probes = 0
    if job is not None and counts[ANY_EXTRA]:
        probes += 1
        table = kind.jobs.get(job)
        if table is not None:
            collect_bucket(out, table.text.get(None))
    if counts[ANY_BOTH]:
        probes += 1
        table = kind.jobs.get(None)
        if table is not None:
            collect_bucket(out, table.text.get(None))
    return probes


def _collect_variables(out: list[Match], bucket: _VarBucket | None, extra: str) -> None:
    if bucket is None:
        return
    for callback_id, (variable, atoms) in bucket.items():
        bindings = {variable: extra}
        for atom_no in atoms if isinstance(atoms, tuple) else (atoms,):
            out.append(Match(callback_id, atom_no, bindings))
