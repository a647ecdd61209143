"""Background tasks for applications (SPEC §6).

Mark a function, then add it from anywhere that can reach the supervisor::

    from triggerfish import tasks

    @tasks.task
    def send_mail(params):            # one argument: the params (JSON)
        ...
        return {"sent": True}         # the result (JSON)

    tid = tasks.add("myapp.mail:send_mail", {"to": "a@b.c"})
    tasks.result(tid, timeout=30)     # {"sent": True}, or TaskFailed with the traceback

The module-level functions talk to the supervisor named by ``TRIGGERFISH_URL``;
``Tasks(client)`` talks to the one you give. ``amsoil_worker()`` has AMsoil's names.
"""

from __future__ import annotations

import atexit
import builtins
import os
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from triggerfish.settings import supervisor_url
from triggerfish.tasks.amsoil import AmsoilWorker
from triggerfish.tasks.api import Policy, Target, TaskFailed, Tasks
from triggerfish.tasks.marker import is_task, task
from triggerfish.tasks.registry import TargetError, register_service, unregister_service

__all__ = [
    "AmsoilWorker", "TargetError", "TaskFailed", "Tasks", "add", "add_many", "add_recurring",
    "add_scheduled", "amsoil_worker", "get", "is_task", "list", "register_service", "remove",
    "result", "task", "unregister_service", "wait",
]  # fmt: skip

_defaults: dict[str, tuple[str | None, Tasks]] = {}
_lock = threading.Lock()


def default() -> Tasks:
    """The Tasks of the supervisor named by ``TRIGGERFISH_URL`` now (one per URL), with the
    token of ``TRIGGERFISH_TOKEN`` now (inside a task: that task's own, which changes from
    one task to the next)."""
    url = supervisor_url()
    token = os.environ.get("TRIGGERFISH_TOKEN")
    with _lock:
        known = _defaults.get(url)
        if known is not None and known[0] == token:
            return known[1]
        from triggerfish.client.client import Client

        if known is not None:
            known[1].client.close()
        tasks = Tasks(Client(url))
        _defaults[url] = (token, tasks)
        return tasks


@atexit.register
def _close_defaults() -> None:
    with _lock:
        for _, tasks in _defaults.values():
            tasks.client.close()
        _defaults.clear()


def add(target: Target, params: Any = None, **options: Any) -> int:
    """Run ``target(params)`` as soon as possible; the task id. See :meth:`Tasks.add`."""
    return default().add(target, params, **options)


def add_many(target: Target, params: Iterable[Any], **options: Any) -> builtins.list[int]:
    """One task per item of ``params``, in one call and one commit; their ids. See
    :meth:`Tasks.add_many`."""
    return default().add_many(target, params, **options)


def add_scheduled(target: Target, params: Any = None, *, at: datetime | float,
                  **options: Any) -> int:  # fmt: skip
    """Run ``target(params)`` once, never before ``at``; the task id."""
    return default().add_scheduled(target, params, at=at, **options)


def add_recurring(
    target: Target,
    params: Any = None,
    *,
    every: float,
    start: datetime | float | None = None,
    key: str | None = None,
    policy: Policy = "skip",
    **options: Any,
) -> str:
    """Run ``target(params)`` every ``every`` seconds; unique by (target, key)."""
    return default().add_recurring(
        target, params, every=every, start=start, key=key, policy=policy, **options
    )


def get(id: int) -> dict[str, Any]:
    return default().get(id)


def wait(id: int, timeout: float | None = None) -> dict[str, Any]:
    return default().wait(id, timeout)


def result(id: int, timeout: float | None = None) -> Any:
    """The return value of task ``id`` once it has ended; TaskFailed if it failed."""
    return default().result(id, timeout)


def remove(id: int | str) -> None:
    """Remove a task, or a recurring schedule (``"r12"``)."""
    default().remove(id)


def amsoil_worker(pickle: bool = False) -> AmsoilWorker:
    """An object with AMsoil's worker API (``add``, ``addAsScheduled``, ``addAsReccurring``,
    ``outsideprocess``) on the supervisor named by ``TRIGGERFISH_URL``."""
    return AmsoilWorker(default(), pickle=pickle)


def list(*, done: bool = False) -> builtins.list[dict[str, Any]]:
    """Recurring schedules and unfinished tasks (finished ones too with ``done=True``)."""
    return default().list(done=done)
