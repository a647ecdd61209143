"""What a worker's pull lists as held: its queued lookahead tokens, in the order they run."""

from __future__ import annotations

from typing import Any

from triggerfish.worker.agent import Worker, WorkerOptions


def test_queued_lists_each_chain_behind_its_running_attempt_in_order() -> None:
    w = Worker(WorkerOptions(url="http://127.0.0.1:9", ahead=8))
    held: Any = object()
    # r1 runs with a then b queued behind it (received b first: a was re-linked in front);
    # r2 runs with c behind it
    w._attempts = {"r1": held, "r2": held}
    w._queued = {"b": held, "c": held, "a": held}
    w._next = {"r1": "a", "a": "b", "r2": "c"}
    assert w.running == ["r1", "r2"]
    assert w.queued == ["a", "b", "c"]
    w._queued["x"] = held  # (off every chain: listed all the same, last)
    assert w.queued == ["a", "b", "c", "x"]
