"""Bounds of the numbers in paths and query strings: what the store's columns can hold.

Job, task, schedule and callback ids are 32-bit columns, event sequence numbers 64-bit; an
offset into a list cannot pass the number of rows a 32-bit id allows. Anything beyond is
answered 422 naming the parameter (before it reaches SQL, where it would be an overflow).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from triggerfish.model.jobspec import MAX_ID

MAX_SEQ = 2**63 - 1  # event sequence numbers (BIGINT)
MAX_OFFSET = MAX_ID

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
SubId = Annotated[int, Path(ge=0, le=MAX_ID)]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Seq = Annotated[int, Query(ge=0, le=MAX_SEQ)]
