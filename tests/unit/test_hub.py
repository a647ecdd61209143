"""Which long polls a commit wakes."""

from __future__ import annotations

from triggerfish.engine.loop import Wakeup
from triggerfish.server.hub import Hub


def test_new_work_wakes_only_hosts_with_a_free_slot() -> None:
    hub = Hub()
    busy, idle, told = hub.host_event("busy"), hub.host_event("idle"), hub.host_event("told")
    hub.wake(Wakeup(hosts={"told"}, work_available=True, idle_hosts={"idle"}))
    assert (busy.is_set(), idle.is_set(), told.is_set()) == (False, True, True)


def test_without_new_work_only_the_named_hosts_wake() -> None:
    hub = Hub()
    a, b = hub.host_event("a"), hub.host_event("b")
    hub.wake(Wakeup(hosts={"b"}, work_available=False, idle_hosts={"a"}))
    assert (a.is_set(), b.is_set()) == (False, True)
