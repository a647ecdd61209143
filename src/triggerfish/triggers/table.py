"""The plain atoms of one ``(name, type, job)``: a dense array for frame numbers, a dict for
the other extras.

An atom is stored as one packed int ``callback_id << 16 | atom_no``. Extras that are frame
numbers written the canonical way (ASCII digits, no leading zero, at most 18 digits: ``"0"``,
``"7"``, ``"1001"``; not ``"007"``, ``"+7"``, ``" 7"`` or non-ASCII digits, which ``int()``
would take) live in an ``array('q')`` with two slots per frame, from frame ``base`` on: a
lookup is one ``int()`` and one read of flat memory, where a dict costs its index, its entry,
the key string and the value object (four cache misses when a million keys are hit at random).
``EMPTY`` marks a free slot; a frame with more than two entries is *spilled*: its first slot
holds ``SPILL`` and its entries are in ``text`` under the frame's string. The array covers at
most ``RATIO`` times as many frames as the table holds (or ``MIN_SPAN``), so a lone huge frame
number costs nothing: frames it cannot cover stay in ``text`` (``outside`` counts them) and
move into the array when it grows over them.

Invariant: a canonical frame number inside ``[base, base + span)`` is in the array (or
spilled); every other extra, ``None`` (any extra) included, is a key of ``text``.

``text`` maps an extra to a bucket: one packed int, a tuple of up to ``SMALL_BUCKET`` packed
ints, or (bigger buckets, so that removal stays O(1)) a dict ``callback_id -> atom number(s)``.
"""

from __future__ import annotations

from array import array

from triggerfish.triggers.keys import NO_BINDINGS, Match

ATOM_BITS = 16
ATOM_MASK = (1 << ATOM_BITS) - 1
MAX_PACKED = (1 << 63) - 1  # what an array('q') slot holds
SMALL_BUCKET = 16  # entries a bucket holds as a tuple before it becomes a dict
EMPTY = -1
SPILL = -2
MIN_SPAN = 64  # frames an array may cover whatever it holds
RATIO = 8  # frames an array may cover per frame number (16 bytes each: a dict entry costs more)
MAX_DIGITS = 18

Atoms = int | tuple[int, ...]  # the atom numbers of one callback in one bucket
Bucket = int | tuple[int, ...] | dict[int, Atoms]


def frame_number(extra: str | None) -> int | None:
    """``extra`` as a frame number if it is one written the canonical way, else None."""
    if (
        extra is not None
        and extra.isdigit()
        and extra.isascii()
        and len(extra) <= MAX_DIGITS
        and (extra[0] != "0" or len(extra) == 1)
    ):
        return int(extra)
    return None


def with_atom(atoms: Atoms | None, atom_no: int) -> Atoms:
    """``atoms`` with ``atom_no`` added (once)."""
    if atoms is None:
        return atom_no
    current = atoms if isinstance(atoms, tuple) else (atoms,)
    return atoms if atom_no in current else (*current, atom_no)


def atom_count(atoms: Atoms | None) -> int:
    if atoms is None:
        return 0
    return len(atoms) if isinstance(atoms, tuple) else 1


def entries(bucket: Bucket) -> tuple[int, ...]:
    """The packed entries of a bucket."""
    if isinstance(bucket, int):
        return (bucket,)
    if isinstance(bucket, tuple):
        return bucket
    return tuple(
        cb << ATOM_BITS | no
        for cb, atoms in bucket.items()
        for no in (atoms if isinstance(atoms, tuple) else (atoms,))
    )


def _bucket_add(bucket: Bucket, packed: int) -> Bucket | None:
    """``bucket`` with ``packed`` added, or None if it holds it already."""
    if isinstance(bucket, dict):
        callback_id, atom_no = packed >> ATOM_BITS, packed & ATOM_MASK
        atoms = bucket.get(callback_id)
        merged = with_atom(atoms, atom_no)
        if merged == atoms:
            return None
        bucket[callback_id] = merged
        return bucket
    current = (bucket,) if isinstance(bucket, int) else bucket
    if packed in current:
        return None
    if len(current) < SMALL_BUCKET:
        return (*current, packed)
    big: dict[int, Atoms] = {}
    for entry in (*current, packed):
        big[entry >> ATOM_BITS] = with_atom(big.get(entry >> ATOM_BITS), entry & ATOM_MASK)
    return big


def _bucket_remove(bucket: Bucket, callback_id: int) -> tuple[Bucket | None, int]:
    """``bucket`` without the entries of ``callback_id`` (None if nothing is left), and how
    many entries went."""
    if isinstance(bucket, dict):
        removed = atom_count(bucket.pop(callback_id, None))
        if len(bucket) >= SMALL_BUCKET:
            return bucket, removed
        kept = entries(bucket)
    else:
        current = (bucket,) if isinstance(bucket, int) else bucket
        kept = tuple(p for p in current if p >> ATOM_BITS != callback_id)
        removed = len(current) - len(kept)
    if not kept:
        return None, removed
    return (kept if len(kept) > 1 else kept[0]), removed


class Table:
    """The plain (no pattern variable) atoms of one ``(name, type, job)``, by extra."""

    __slots__ = (
        "base",
        "dense",
        "numeric",
        "outside",
        "outside_hi",
        "outside_lo",
        "retry_at",
        "text",
    )

    def __init__(self) -> None:
        self.text: dict[str | None, Bucket] = {}
        self.dense: array[int] | None = None  # 2 slots per frame from ``base`` on
        self.base = 0
        self.numeric = 0  # distinct frame-number keys (array, spilled and outside)
        self.outside = 0  # frame-number keys in ``text`` outside the array's frames
        self.outside_lo = self.outside_hi = 0  # bounds of their frames (maybe wider)
        self.retry_at = 0  # how many must be outside before _relocate looks again

    def __bool__(self) -> bool:
        return bool(self.text) or self.numeric > 0

    def _slot(self, frame: int) -> int:
        """The first slot of ``frame`` in the array, or -1 if the array does not cover it."""
        dense = self.dense
        if dense is None:
            return -1
        i = (frame - self.base) * 2
        return i if 0 <= i < len(dense) else -1

    # ------------------------------------------------------------ add / remove

    def add(self, extra: str | None, packed: int) -> tuple[bool, bool]:
        """Store ``packed`` under ``extra``: (whether it is new, whether the key is new)."""
        frame = frame_number(extra)
        if frame is None:
            return self._text_add(extra, packed)
        dense = self.dense
        i = -1 if dense is None else (frame - self.base) * 2
        if dense is None or not 0 <= i < len(dense):
            i = self._slot(frame) if self._grow(frame) else -1
        if i < 0:
            added, new_key = self._text_add(extra, packed)
            if new_key:
                self.numeric += 1
                if not self.outside:
                    self.outside_lo = self.outside_hi = frame
                self.outside += 1
                self.outside_lo = min(self.outside_lo, frame)
                self.outside_hi = max(self.outside_hi, frame)
                if self.outside > 2 * (self.numeric - self.outside) + MIN_SPAN:
                    self._relocate()
            return added, new_key
        dense = self.dense
        assert dense is not None
        first, second = dense[i], dense[i + 1]
        if first == SPILL:
            return self._text_add(extra, packed)
        if packed in (first, second):
            return False, False
        if second == EMPTY and packed <= MAX_PACKED:
            if first == EMPTY:
                dense[i] = packed
                self.numeric += 1
                if self.outside:
                    self._take_in_all()
                return True, True
            dense[i + 1] = packed
            return True, False
        held = tuple(p for p in (first, second) if p != EMPTY)  # spill
        self.text[extra] = (*held, packed) if held else packed
        dense[i], dense[i + 1] = SPILL, EMPTY
        if not held:
            self.numeric += 1
            if self.outside:
                self._take_in_all()
        return True, not held

    def _text_add(self, extra: str | None, packed: int) -> tuple[bool, bool]:
        bucket = self.text.get(extra)
        if bucket is None:
            self.text[extra] = packed
            return True, True
        grown = _bucket_add(bucket, packed)
        if grown is None:
            return False, False
        self.text[extra] = grown
        return True, False

    def remove(self, extra: str | None, callback_id: int) -> tuple[int, bool]:
        """Drop the entries of ``callback_id`` under ``extra``: (how many, whether the key is
        gone)."""
        frame = frame_number(extra)
        i = -1 if frame is None else self._slot(frame)
        if i < 0:
            removed, gone = self._text_remove(extra, callback_id)
            if gone and frame is not None:
                self.numeric -= 1
                self.outside -= 1
            return removed, gone
        dense = self.dense
        assert dense is not None
        if dense[i] == SPILL:
            removed, gone = self._text_remove(extra, callback_id)
            bucket = self.text.get(extra)
            kept = () if bucket is None else entries(bucket)
            if len(kept) <= 2 and all(p <= MAX_PACKED for p in kept):  # back into the array
                self.text.pop(extra, None)
                dense[i] = kept[0] if kept else EMPTY
                dense[i + 1] = kept[1] if len(kept) == 2 else EMPTY
        else:
            current = [p for p in (dense[i], dense[i + 1]) if p != EMPTY]
            kept = tuple(p for p in current if p >> ATOM_BITS != callback_id)
            removed = len(current) - len(kept)
            dense[i] = kept[0] if kept else EMPTY
            dense[i + 1] = kept[1] if len(kept) == 2 else EMPTY
        gone = removed > 0 and not kept
        if gone:
            self.numeric -= 1
            if self.numeric == 0:
                self.dense = None
        return removed, gone

    def _text_remove(self, extra: str | None, callback_id: int) -> tuple[int, bool]:
        bucket = self.text.get(extra)
        if bucket is None:
            return 0, False
        kept, removed = _bucket_remove(bucket, callback_id)
        if kept is None:
            del self.text[extra]
            return removed, True
        self.text[extra] = kept
        return removed, False

    def _grow(self, frame: int) -> bool:
        """Make the array cover ``frame`` (and the frames outside, if it can) if it stays dense
        enough; whether it does."""
        dense = self.dense
        lo, hi = (frame, frame + 1) if dense is None else (self.base, self.base + len(dense) // 2)
        up = dense is None or frame >= hi
        lo, hi = min(lo, frame), max(hi, frame + 1)
        limit = max(MIN_SPAN, RATIO * (self.numeric + 1))
        if self.outside and max(hi, self.outside_hi + 1) - min(lo, self.outside_lo) <= limit:
            lo, hi = min(lo, self.outside_lo), max(hi, self.outside_hi + 1)
        if hi - lo > limit:
            return False
        room = min(max((hi - lo) // 2, 8), limit - (hi - lo))  # amortised growth
        if up:
            hi += room
        else:
            lo = max(0, lo - room)
        self._cover(lo, hi)
        return True

    def _cover(self, lo: int, hi: int) -> None:
        """Make the array cover the frames ``[lo, hi)`` (a superset of what it covers)."""
        dense = self.dense
        grown = array("q", [EMPTY]) * (2 * (hi - lo))
        if dense is not None:
            at = 2 * (self.base - lo)
            grown[at : at + len(dense)] = dense
        self.dense, self.base = grown, lo
        if self.outside:
            self._take_in(lo, hi)

    def _take_in_all(self) -> None:
        """Cover the frames outside too if the array stays dense enough."""
        lo, hi = self.outside_lo, self.outside_hi + 1
        if self.dense is not None:
            lo, hi = min(lo, self.base), max(hi, self.base + len(self.dense) // 2)
        if hi - lo <= max(MIN_SPAN, RATIO * self.numeric):
            self._cover(lo, hi)

    def _relocate(self) -> None:
        """Most frame numbers are outside (the array began at an outlier): move the array over
        the middle seven eighths of them, if that is dense enough (else try again when twice
        as many are outside); the array's own frames go to ``text``."""
        if self.outside < self.retry_at:
            return
        frames = sorted(
            f for f in map(frame_number, self.text) if f is not None and self._slot(f) < 0
        )
        trim = len(frames) // 16
        lo, hi = frames[trim], frames[-1 - trim] + 1
        if hi - lo > max(MIN_SPAN, RATIO * (len(frames) - 2 * trim)):
            self.retry_at = 2 * self.outside
            return
        dense, base = self.dense, self.base
        self.dense = None
        if dense is not None:
            for j in range(0, len(dense), 2):
                first, second = dense[j], dense[j + 1]
                if first == EMPTY:
                    continue
                if first != SPILL:  # a spilled frame's entries are in ``text`` already
                    self.text[str(base + j // 2)] = first if second == EMPTY else (first, second)
                self.outside += 1
        self._cover(lo, hi)
        left = [f for f in map(frame_number, self.text) if f is not None and self._slot(f) < 0]
        self.outside_lo, self.outside_hi = min(left, default=0), max(left, default=0)
        self.retry_at = 0

    def _take_in(self, lo: int, hi: int) -> None:
        """Move the frame-number keys of ``text`` that the array now covers into it."""
        dense = self.dense
        assert dense is not None
        covered = [(e, f) for e in self.text if (f := frame_number(e)) is not None and lo <= f < hi]
        for extra, frame in covered:
            i = (frame - lo) * 2
            self.outside -= 1
            kept = entries(self.text[extra])
            if len(kept) > 2 or max(kept) > MAX_PACKED:
                dense[i] = SPILL
                continue
            del self.text[extra]
            dense[i] = kept[0]
            if len(kept) == 2:
                dense[i + 1] = kept[1]

    # ------------------------------------------------------------ lookup

    def collect(self, out: list[Match], extra: str) -> None:
        """Append the atoms stored under ``extra`` (not None) to ``out``."""
        dense = self.dense
        # frame_number(extra), written out: this runs for every event, and the call would cost
        # a few percent of the index's matching rate (bench/trigger_index.py)
        if (
            dense is not None
            and extra.isdigit()
            and extra.isascii()
            and len(extra) <= MAX_DIGITS
            and (extra[0] != "0" or len(extra) == 1)
        ):
            i = (int(extra) - self.base) * 2
            if 0 <= i < len(dense):
                first = dense[i]
                if first >= 0:
                    out.append(Match(first >> ATOM_BITS, first & ATOM_MASK, NO_BINDINGS))
                    second = dense[i + 1]
                    if second >= 0:
                        out.append(Match(second >> ATOM_BITS, second & ATOM_MASK, NO_BINDINGS))
                    return
                if first == EMPTY:
                    return
        collect_bucket(out, self.text.get(extra))


def collect_bucket(out: list[Match], bucket: Bucket | None) -> None:
    """Append the atoms of ``bucket`` to ``out``."""
    if bucket is None:
        return
    if isinstance(bucket, int):
        out.append(Match(bucket >> ATOM_BITS, bucket & ATOM_MASK, NO_BINDINGS))
        return
    if isinstance(bucket, tuple):
        out.extend(Match(p >> ATOM_BITS, p & ATOM_MASK, NO_BINDINGS) for p in bucket)
        return
    for callback_id, atoms in bucket.items():
        if isinstance(atoms, int):
            out.append(Match(callback_id, atoms, NO_BINDINGS))
        else:
            out.extend(Match(callback_id, no, NO_BINDINGS) for no in atoms)
