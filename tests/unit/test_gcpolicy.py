"""The supervisor's garbage-collection policy: objects alive are frozen on start and then
periodically; a full collection unfreezes, collects cyclic garbage, and freezes again."""

from __future__ import annotations

import gc
import time
import weakref

from triggerfish.server.gcpolicy import GcPolicy


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_freezes_then_collects_the_cycles_it_hid() -> None:
    policy = GcPolicy(freeze_every=0.05, full_every=0.5)
    try:
        cycle = Node()
        ref = weakref.ref(cycle)
        policy.start()
        assert gc.get_freeze_count() > 0
        del cycle
        gc.collect()
        assert ref() is not None  # dead but frozen: ordinary collections do not see it
        deadline = time.monotonic() + 10
        while ref() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ref() is None  # the periodic full collection freed it
    finally:
        policy.stop()
    assert gc.get_freeze_count() == 0


def test_zero_keeps_pythons_default() -> None:
    policy = GcPolicy(freeze_every=0)
    policy.start()
    assert gc.get_freeze_count() == 0
    policy.stop()
