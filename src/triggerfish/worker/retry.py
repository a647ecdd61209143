"""Pacing and logging of retries while the supervisor is away."""

from __future__ import annotations

import logging
import random
import time

logger = logging.getLogger(__name__)


class Backoff:
    """Delays growing from ``initial`` to ``maximum`` by ``factor``, with a ``jitter`` spread."""

    def __init__(
        self, initial: float = 0.2, maximum: float = 5.0, factor: float = 2.0, jitter: float = 0.1
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._next = initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * self.factor)
        spread = delay * self.jitter
        return min(self.maximum, max(0.0, delay + random.uniform(-spread, spread)))

    def reset(self) -> None:
        self._next = self.initial


class Outage:
    """Logs once when the supervisor stops answering, and once when it is back."""

    def __init__(self) -> None:
        self._since: float | None = None

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, what: str, error: BaseException) -> None:
        if self._since is None:
            self._since = time.monotonic()
            logger.warning(
                "supervisor unreachable (%s: %s); retrying until it answers",
                what,
                error,
                extra={"action": "supervisor_unreachable"},
            )
        else:
            logger.debug(
                "supervisor still unreachable (%s: %s)",
                what,
                error,
                extra={"action": "supervisor_unreachable"},
            )

    def ok(self) -> None:
        if self._since is not None:
            logger.info(
                "supervisor reachable again after %.1f s",
                time.monotonic() - self._since,
                extra={"action": "supervisor_reachable"},
            )
            self._since = None
