"""Agendas: frame ranges (``1-100``, ``1-100x5``, ``1,3,5-9``), chunking, and frame numbers.

A range string is a comma-separated list of parts; each part is ``N``, ``A-B`` or ``A-BxS``
(step ``S``; ``A`` may be greater than ``B`` for a descending range). Chunking groups
consecutive frames of one part into items named ``start-end``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triggerfish.errors import ValidationError

# Items (frames, or chunks of frames, or named items) of one job: what the engine holds in
# memory (about 400 bytes each), a page of the agenda can be cut from, and a submission of
# a few seconds (see docs/jobs.md, "Limits").
MAX_FRAMES = 1_000_000
MAX_FRAME = 2**63 - 1  # a frame number (and a step): a 64-bit integer, as $QB_FRAME_* holds
_PART = re.compile(r"^\s*(-?\d+)(?:\s*-\s*(-?\d+)(?:\s*[xX:]\s*(\d+))?)?\s*$")


@dataclass(frozen=True, slots=True)
class Frames:
    """One part of a range: frames start, start±step, … up to end (inclusive)."""

    start: int
    end: int
    step: int

    def count(self) -> int:
        """How many frames (without building them: a part may be as long as 10^20)."""
        return abs(self.end - self.start) // self.step + 1

    def numbers(self) -> range:
        if self.start <= self.end:
            return range(self.start, self.end + 1, self.step)
        return range(self.start, self.end - 1, -self.step)


def parse_range(text: str, *, field: str = "range") -> list[Frames]:
    """Parse a frame range into its parts; raise ValidationError naming ``field`` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"{field}: expected a frame range such as '1-100'", field=field)
    parts: list[Frames] = []
    total = 0
    for raw in text.split(","):
        m = _PART.match(raw)
        if m is None:
            raise ValidationError(
                f"{field}: {raw.strip()!r} is not a frame, 'A-B' or 'A-BxSTEP'", field=field
            )
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) is not None else start
        step = int(m.group(3)) if m.group(3) is not None else 1
        if step < 1:
            raise ValidationError(
                f"{field}: step must be at least 1 in {raw.strip()!r}", field=field
            )
        if max(abs(start), abs(end), step) > MAX_FRAME:
            raise ValidationError(
                f"{field}: frame numbers and steps are at most {MAX_FRAME} in {raw.strip()!r}",
                field=field,
            )
        frames = Frames(start, end, step)
        total += frames.count()
        if total > MAX_FRAMES:
            raise ValidationError(
                f"{field}: more than {MAX_FRAMES:,} frames in one job (split it into jobs)",
                field=field,
            )
        parts.append(frames)
    return parts


def range_items(text: str, chunk: int = 1, *, field: str = "range") -> list[str]:
    """The agenda item names of a range: one per frame, or ``start-end`` per chunk of frames."""
    if chunk < 1:
        raise ValidationError("chunk: must be at least 1", field="chunk")
    names: list[str] = []
    seen: set[str] = set()
    for part in parse_range(text, field=field):
        nums = part.numbers()
        for i in range(0, len(nums), chunk):
            group = nums[i : i + chunk]
            name = str(group[0]) if chunk == 1 or len(group) == 1 else f"{group[0]}-{group[-1]}"
            if name in seen:
                raise ValidationError(f"{field}: frame {name} appears twice", field=field)
            seen.add(name)
            names.append(name)
    return names


def genframes(text: str) -> list[dict[str, str]]:
    """Qube's ``qb.genframes``: a list of work dicts ``{"name": "N"}`` for a range."""
    return [{"name": n} for n in range_items(text)]


_ITEM = re.compile(r"^(-?\d+)(?:-(-?\d+))?$")


def frame_bounds(name: str | None, step: int = 1) -> tuple[int, int, int] | None:
    """``(start, end, step)`` for an item named ``N`` or ``A-B``; None for other names."""
    if name is None:
        return None
    m = _ITEM.match(name)
    if m is None:
        return None
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) is not None else start
    return start, end, step
