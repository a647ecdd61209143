"""Riding through a supervisor restart: calls retried with backoff while it is unreachable.

Waiting loops (``Client.wait``, ``triggerfish wait``, ``submit --wait``, ``events --follow``)
read only: a read retried after the supervisor is back gives the same answer it would have.
An outage is said once when it starts and once when it ends (``notify``), not per retry.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from triggerfish.client.errors import ClientError, is_transient

logger = logging.getLogger("triggerfish.client")
T = TypeVar("T")
FIRST_DELAY = 0.2  # seconds before the first retry
MAX_DELAY = 5.0  # the backoff doubles up to this


def log_notice(message: str) -> None:
    """The default ``notify``: a warning of the ``triggerfish.client`` logger (on stderr when
    the application configured no logging)."""
    logger.warning(message, extra={"action": "client.reconnect"})


class Reconnect:
    """Calls through which a supervisor's restart is waited out (``call``)."""

    def __init__(
        self,
        url: str,
        notify: Callable[[str], None] | None = None,
        *,
        first: float | None = None,
        most: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.notify = notify or log_notice
        self.first = FIRST_DELAY if first is None else first
        self.most = MAX_DELAY if most is None else most
        self.sleep = sleep
        self.down = False  # the last call found the supervisor unreachable
        self.outages = 0  # how many times it went away

    def call(self, fn: Callable[..., T], *args: object, deadline: float | None = None) -> T:
        """``fn(*args)``, retried while the supervisor is unreachable (connection refused or
        reset, 502/503/504) until ``deadline`` (``time.monotonic()``; None: for ever), after
        which the last error is raised. Other errors are raised at once."""
        delay = self.first
        while True:
            try:
                out = fn(*args)
            except ClientError as exc:
                if not is_transient(exc):
                    raise
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise
                if not self.down:
                    self.down = True
                    self.outages += 1
                    self.notify(f"supervisor unreachable at {self.url}; retrying… ({exc.message})")
                pause = delay * random.uniform(0.8, 1.2)  # jitter: clients do not return in step
                self.sleep(pause if left is None else min(pause, left))
                delay = min(delay * 2, self.most)
                continue
            if self.down:
                self.down = False
                self.notify(f"reconnected to the supervisor at {self.url}")
            return out
