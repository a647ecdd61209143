"""NaN and infinities are no JSON numbers: refused wherever a submission carries free JSON."""

from __future__ import annotations

import math
from typing import Any

from triggerfish.errors import ValidationError


def check_finite(value: Any, field: str) -> None:
    """Raise ValidationError naming the first NaN or infinity in ``value`` (Python's ``json``
    reads them; the store could not keep them as they are)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(
                f"{field}: {value!r} is not a JSON number (no NaN or infinity)", field=field
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{field}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_finite(item, f"{field}[{i}]")
