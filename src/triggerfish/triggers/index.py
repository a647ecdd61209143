"""The trigger index: from an event to the atoms it matches, without scanning callbacks.

An event ``(name, type, job, extra)`` can only match atoms under one of at most four keys
(its job or any job, combined with its extra or any extra) or under a pattern-variable key of
its job or of any job. ``match`` first looks up which of these six *shapes* of key exist for
``(name, type)`` at all, then probes only the tables that can hold them: at most four (the
job's, any job's, and the pattern-variable tables of both), each answering with one or two
lookups, whatever the number of registered atoms that cannot match. ``probes`` counts the
table lookups (the shapes lookup included).

Storage is two-level: ``(name, type, job)`` → ``extra`` → bucket, so that one event's probes
share the first lookup and the big per-job dicts are keyed by the extra string alone (fewer
cache misses than one flat dict of 4-tuples with a million keys). A key held by one atom stores
one int (``callback_id << 16 | atom_no``), a key held by a few a tuple of such ints, a key held
by many (``SMALL_BUCKET``) a dict ``callback_id -> atom number(s)``, so ``remove`` costs
at most O(SMALL_BUCKET) per atom of the callback. Key tuples are kept by reference (for
``remove``): keys shared with the caller's ``Compiled`` objects cost nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from triggerfish.triggers.keys import NO_BINDINGS, Key, key_variable

ATOM_BITS = 16
MAX_ATOMS = 1 << ATOM_BITS  # atoms per expression
_ATOM_MASK = MAX_ATOMS - 1

# Shapes of keys, by which of job / extra are given: index into the per-(name, type) counts.
EXACT, ANY_EXTRA, ANY_JOB, ANY_BOTH, VAR_JOB, VAR_ANY = range(6)

_Atoms = int | tuple[int, ...]  # the atom numbers of one callback in one bucket
# One packed entry (callback_id << 16 | atom_no), a few packed entries, or (big buckets, so
# that remove stays O(1)) callback id -> atom number(s).
_Bucket = int | tuple[int, ...] | dict[int, _Atoms]
SMALL_BUCKET = 16  # entries a bucket holds as a tuple before it becomes a dict
_Head = tuple[str, str, int | None]  # (name, type, job)
_VarBucket = dict[int, tuple[str, _Atoms]]  # callback id -> (variable, atom number(s))


class Match(NamedTuple):
    """An atom an event matched, with the binding of its pattern variable (if any)."""

    callback_id: int
    atom_no: int
    bindings: Mapping[str, str]


def shape(key: Key) -> int:
    """Which of the six shapes ``key`` has (EXACT … VAR_ANY)."""
    job, extra = key[2], key[3]
    if extra is not None and extra.startswith("$"):
        return VAR_JOB if job is not None else VAR_ANY
    return (ANY_JOB if job is None else EXACT) + (ANY_EXTRA if extra is None else 0)


def _with(atoms: _Atoms | None, atom_no: int) -> _Atoms:
    if atoms is None:
        return atom_no
    current = atoms if isinstance(atoms, tuple) else (atoms,)
    return atoms if atom_no in current else (*current, atom_no)


def _count(atoms: _Atoms | None) -> int:
    if atoms is None:
        return 0
    return len(atoms) if isinstance(atoms, tuple) else 1


class TriggerIndex:
    """Atoms of registered callbacks, keyed for matching events (see the module docstring)."""

    __slots__ = ("_buckets", "_owned", "_shapes", "_size", "_vars", "probes")

    def __init__(self) -> None:
        self._buckets: dict[_Head, dict[str | None, _Bucket]] = {}
        self._vars: dict[_Head, _VarBucket] = {}
        # (name, type) -> number of distinct keys of each shape
        self._shapes: dict[tuple[str, str], list[int]] = {}
        # callback id -> its key, or its keys: what remove() visits
        self._owned: dict[int, Key | tuple[Key, ...]] = {}
        self._size = 0
        self.probes = 0  # dictionary lookups done by match(), for tests and benchmarks

    def __len__(self) -> int:
        """Number of registered (callback, atom) pairs."""
        return self._size

    def __contains__(self, callback_id: object) -> bool:
        return callback_id in self._owned

    def _shape_count(self, key: Key, delta: int) -> None:
        name_type = (key[0], key[1])
        counts = self._shapes.get(name_type)
        if counts is None:
            counts = self._shapes[name_type] = [0] * 6
        counts[shape(key)] += delta
        if not any(counts):
            del self._shapes[name_type]

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
        head, extra = (key[0], key[1], key[2]), key[3]
        inner = self._buckets.get(head)
        if inner is None:
            inner = self._buckets[head] = {}
        packed = callback_id << ATOM_BITS | atom_no
        bucket = inner.get(extra)
        if bucket is None:
            inner[extra] = packed
            self._shape_count(key, 1)
            return True
        if isinstance(bucket, dict):
            atoms = bucket.get(callback_id)
            merged = _with(atoms, atom_no)
            bucket[callback_id] = merged
            return merged != atoms
        entries = (bucket,) if isinstance(bucket, int) else bucket
        if packed in entries:
            return False
        if len(entries) < SMALL_BUCKET:
            inner[extra] = (*entries, packed)
        else:
            big: dict[int, _Atoms] = {}
            for entry in (*entries, packed):
                big[entry >> ATOM_BITS] = _with(big.get(entry >> ATOM_BITS), entry & _ATOM_MASK)
            inner[extra] = big
        return True

    def _add_variable(self, callback_id: int, atom_no: int, key: Key, variable: str) -> bool:
        var_key = (key[0], key[1], key[2])
        bucket = self._vars.get(var_key)
        if bucket is None:
            bucket = self._vars[var_key] = {}
            self._shape_count(key, 1)
        entry = bucket.get(callback_id)
        if entry is not None and entry[0] != variable:
            raise ValueError(f"callback {callback_id} already uses ${entry[0]}, not ${variable}")
        atoms = None if entry is None else entry[1]
        merged = _with(atoms, atom_no)
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
            if key_variable(key) is None:
                removed += self._remove_plain(callback_id, key)
            else:
                removed += self._remove_variable(callback_id, key)
        self._size -= removed
        return removed

    def _remove_plain(self, callback_id: int, key: Key) -> int:
        head, extra = (key[0], key[1], key[2]), key[3]
        inner = self._buckets.get(head)
        bucket = None if inner is None else inner.get(extra)
        if inner is None or bucket is None:
            return 0
        if isinstance(bucket, dict):
            removed = _count(bucket.pop(callback_id, None))
            if len(bucket) >= SMALL_BUCKET:
                return removed
            kept: tuple[int, ...] = tuple(
                cb << ATOM_BITS | no
                for cb, atoms in bucket.items()
                for no in (atoms if isinstance(atoms, tuple) else (atoms,))
            )
        else:
            entries = (bucket,) if isinstance(bucket, int) else bucket
            kept = tuple(p for p in entries if p >> ATOM_BITS != callback_id)
            removed = len(entries) - len(kept)
        if len(kept) > 1:
            inner[extra] = kept
        elif kept:
            inner[extra] = kept[0]
        else:
            del inner[extra]
            if not inner:
                del self._buckets[head]
            self._shape_count(key, -1)
        return removed

    def _remove_variable(self, callback_id: int, key: Key) -> int:
        var_key = (key[0], key[1], key[2])
        bucket = self._vars.get(var_key)
        if bucket is None:
            return 0
        entry = bucket.pop(callback_id, None)
        if not bucket:
            del self._vars[var_key]
            self._shape_count(key, -1)
        return 0 if entry is None else _count(entry[1])

    # ---------------------------------------------------------------- matching

    def match(self, name: str, type_: str, job: int | None, extra: str | None) -> list[Match]:
        """Every registered atom the event ``(name, type, job, extra)`` matches.

        ``job`` None: the event belongs to no job (a host coming up); ``extra`` None: the event
        has no extra (job events). Results come bucket by bucket: the job's atoms for this
        extra, for any extra; any job's for this extra, for any extra; then pattern variables
        (of the job, then of any job).
        """
        counts = self._shapes.get((name, type_))
        if counts is None:
            self.probes += 1
            return []
        out: list[Match] = []
        probes = 1
        buckets = self._buckets
        exact = extra is not None and counts[EXACT]
        if job is not None and (exact or counts[ANY_EXTRA]):
            probes += 1
            inner = buckets.get((name, type_, job))
            if inner is not None:
                if exact:
                    _collect(out, inner.get(extra))
                if counts[ANY_EXTRA]:
                    _collect(out, inner.get(None))
        any_job = extra is not None and counts[ANY_JOB]
        if any_job or counts[ANY_BOTH]:
            probes += 1
            inner = buckets.get((name, type_, None))
            if inner is not None:
                if any_job:
                    _collect(out, inner.get(extra))
                if counts[ANY_BOTH]:
                    _collect(out, inner.get(None))
        if extra is not None:
            if counts[VAR_JOB] and job is not None:
                probes += 1
                self._collect_variables(out, (name, type_, job), extra)
            if counts[VAR_ANY]:
                probes += 1
                self._collect_variables(out, (name, type_, None), extra)
        self.probes += probes
        return out

    def _collect_variables(self, out: list[Match], var_key: _Head, extra: str) -> None:
        bucket = self._vars.get(var_key)
        if bucket is None:
            return
        for callback_id, (variable, atoms) in bucket.items():
            bindings = {variable: extra}
            for atom_no in atoms if isinstance(atoms, tuple) else (atoms,):
                out.append(Match(callback_id, atom_no, bindings))


def _collect(out: list[Match], bucket: _Bucket | None) -> None:
    if bucket is None:
        return
    if isinstance(bucket, int):
        out.append(Match(bucket >> ATOM_BITS, bucket & _ATOM_MASK, NO_BINDINGS))
        return
    if isinstance(bucket, tuple):
        out.extend(Match(p >> ATOM_BITS, p & _ATOM_MASK, NO_BINDINGS) for p in bucket)
        return
    for callback_id, atoms in bucket.items():
        if isinstance(atoms, int):
            out.append(Match(callback_id, atoms, NO_BINDINGS))
        else:
            out.extend(Match(callback_id, no, NO_BINDINGS) for no in atoms)
