"""Targets of control verbs and log lookups.

``12`` is a job, ``12.0`` instance 0 of job 12, ``12:NAME`` work item NAME of job 12.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triggerfish.errors import ValidationError

_TARGET = re.compile(r"^\s*(\d+)\s*(?:\.(\d+)|:(.+))?\s*$")


@dataclass(frozen=True, slots=True)
class Target:
    job: int
    subid: int | None = None
    work: str | None = None

    def __str__(self) -> str:
        if self.subid is not None:
            return f"{self.job}.{self.subid}"
        if self.work is not None:
            return f"{self.job}:{self.work}"
        return str(self.job)


def parse_target(value: int | str) -> Target:
    """Parse ``12``, ``"12"``, ``"12.0"`` or ``"12:NAME"``; raise ValidationError otherwise."""
    if isinstance(value, bool):
        raise ValidationError(f"target {value!r}: expected a job id", field="targets")
    if isinstance(value, int):
        if value < 1:
            raise ValidationError(f"target {value}: job ids start at 1", field="targets")
        return Target(value)
    m = _TARGET.match(str(value))
    if m is None:
        raise ValidationError(
            f"target {value!r}: expected JOB, JOB.INSTANCE or JOB:WORK (e.g. 12, 12.0, 12:5)",
            field="targets",
        )
    job = int(m.group(1))
    if m.group(2) is not None:
        return Target(job, subid=int(m.group(2)))
    if m.group(3) is not None:
        return Target(job, work=m.group(3))
    return Target(job)
