"""Keeps Python's garbage collector from pausing the supervisor for long.

A full (generation 2) collection walks every object the process holds — the engine's state,
the modules, the queued callback runs — and took 200-450 ms on a busy 2-core machine during a
storm of callback runs (bench/callback_storm.py): every command waited that long. So, every
``freeze_every`` seconds, the objects alive are moved out of the collector's sight
(``gc.freeze()``); full collections then only walk what is newer. Garbage that was alive at a
freeze and forms a reference cycle when it dies is not collected until the next
``full_every``: then everything is unfrozen, collected once (one long pause, logged), and
frozen again. Objects without cycles — most of them — are freed by reference counting as usual.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

logger = logging.getLogger(__name__)


class GcPolicy:
    def __init__(self, freeze_every: float = 10.0, full_every: float = 600.0) -> None:
        self.freeze_every = freeze_every
        self.full_every = full_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.freeze_every <= 0:
            return
        gc.freeze()
        self._thread = threading.Thread(target=self._run, name="gc-policy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            gc.unfreeze()

    def _run(self) -> None:
        last_full = time.monotonic()
        while not self._stop.wait(self.freeze_every):
            if self.full_every > 0 and time.monotonic() - last_full >= self.full_every:
                began = time.perf_counter()
                gc.unfreeze()
                found = gc.collect()
                last_full = time.monotonic()
                logger.info(
                    "full garbage collection: %d unreachable objects in %.0f ms",
                    found, (time.perf_counter() - began) * 1000,
                    extra={"action": "gc.full", "found": found},
                )  # fmt: skip
            gc.freeze()
