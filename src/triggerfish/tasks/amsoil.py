"""AMsoil's worker service, with its names and argument order, over triggerfish tasks.

``worker = tasks.amsoil_worker()`` replaces ``worker = pm.getService('worker')``; the
service name and method become the target ``"service:method"`` (a service registered with
:func:`triggerfish.tasks.register_service` on the workers, or a module).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from triggerfish.model.tasks import join_target
from triggerfish.tasks.api import Tasks
from triggerfish.tasks.marker import task


class AmsoilWorker:
    """``add``, ``addAsScheduled``, ``addAsReccurring``/``addAsRecurring``, ``outsideprocess``."""

    outsideprocess = staticmethod(task)

    def __init__(self, tasks: Tasks | None = None, *, pickle: bool = False) -> None:
        self.tasks = tasks if tasks is not None else Tasks()
        self.pickle = pickle

    def add(self, service_name: str, callable_attr_str: str, params: Any = None) -> int:
        """Run as soon as possible."""
        target = join_target(service_name, callable_attr_str)
        return self.tasks.add(target, params, pickle=self.pickle)

    def addAsScheduled(
        self, service_name: str, callable_attr_str: str, params: Any, date_time: datetime
    ) -> int:
        """Run once, not before ``date_time`` (a naive datetime is local time, as in AMsoil)."""
        target = join_target(service_name, callable_attr_str)
        return self.tasks.add_scheduled(target, params, at=date_time, pickle=self.pickle)

    def addAsReccurring(
        self, service_name: str, callable_attr_str: str, params: Any, interval: float
    ) -> str:
        """Run every ``interval`` seconds, first as soon as possible; adding the same service
        and method again replaces the earlier one (AMsoil's signature rule)."""
        target = join_target(service_name, callable_attr_str)
        return self.tasks.add_recurring(target, params, every=interval, pickle=self.pickle)

    addAsRecurring = addAsReccurring
