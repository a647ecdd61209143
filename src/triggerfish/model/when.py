"""Points in time as users write them: ISO-8601 with zone, Qube time, or ``+DURATION``.

- ``2026-12-01T18:00+01:00`` (or ``…Z``): an ISO-8601 timestamp; the zone is required, so that
  a job is never held until a moment that depends on the supervisor's clock settings;
- ``847000000`` (an int, or a string of digits): Qube time, seconds since 2000-01-01 05:00 UTC
  (unix time - 946702800), as in time trigger atoms;
- ``+90s``, ``+5m``, ``+2h``, ``+1d``, ``+1h30m``: that long after now (resolved once, when
  the job is submitted).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from triggerfish.triggers.vocabulary import QB_TIME_EPOCH_OFFSET

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$")
_EXPECTED = (
    "an ISO-8601 time with zone (2026-12-01T18:00+01:00), Qube seconds, "
    "or +DURATION (+90s, +5m, +2h, +1d)"
)


def parse_when(value: str | int, now: float) -> datetime:
    """The aware datetime ``value`` names (``now``: unix time, for ``+DURATION``).

    Raises ValueError naming what is expected.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {_EXPECTED}, got {value!r}")
    if isinstance(value, int):
        return _qube(value)
    text = value.strip()
    if text.isdigit():
        return _qube(int(text))
    if text.startswith("+"):
        try:
            return datetime.fromtimestamp(now + parse_duration(text[1:]), UTC)
        except ValueError:
            raise ValueError(f"expected {_EXPECTED}, got {value!r}") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected {_EXPECTED}, got {value!r}") from None
    if moment.utcoffset() is None:
        raise ValueError(f"{value!r} has no zone: add one (Z or +hh:mm)")
    return moment


def parse_duration(text: str) -> float:
    """Seconds of ``30d``, ``12h``, ``1h30m``, ``90s`` or ``90``; ValueError otherwise."""
    m = _DURATION.match(text.strip())
    if m is None or not any(m.groups()):
        raise ValueError(f"expected a duration (30d, 12h, 1h30m, 90s), got {text!r}")
    d, h, mi, sec = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + sec


def _qube(seconds: int) -> datetime:
    if seconds < 0 or seconds > 10**11:
        raise ValueError(f"Qube time {seconds} is out of range")
    return datetime.fromtimestamp(seconds + QB_TIME_EPOCH_OFFSET, UTC)


def time_atom_text(moment: datetime) -> str:
    """``moment`` as the T of a time atom: ISO-8601 in UTC, to the microsecond if needed."""
    utc = moment.astimezone(UTC)
    spec = "seconds" if utc.microsecond == 0 else "microseconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")
