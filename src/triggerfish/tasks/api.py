"""The application side of tasks: add them, schedule them, read their results.

``Tasks(client)`` talks to one supervisor; the module-level functions of
:mod:`triggerfish.tasks` use the supervisor named by ``TRIGGERFISH_URL``.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

from triggerfish.client.client import Client
from triggerfish.errors import TriggerfishError, ValidationError
from triggerfish.model.tasks import Encoding, encode_params, target_of

Target = str | Callable[..., Any]
Policy = Literal["skip", "queue", "allow"]
ENDED = ("complete", "failed", "killed")
SCHEDULE_PREFIX = "r"  # "r12": recurring schedule 12 (a plain number is a task)


class TaskFailed(TriggerfishError):
    """The task ended without a result: its error, and the traceback when it raised."""

    code = "task_failed"

    def __init__(self, message: str, *, task: int, status: str, traceback: str | None = None):
        super().__init__(message)
        self.task = task
        self.status = status
        self.traceback = traceback

    def __str__(self) -> str:
        return self.message + (f"\n{self.traceback}" if self.traceback else "")


def when(value: datetime | float | int, field: str) -> float:
    """Seconds since the epoch; a naive datetime is local time."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValidationError(f"{field}: expected a datetime or seconds since the epoch", field=field)


def schedule_id(id: int | str) -> int | None:
    """The number of a schedule id ``"r12"``; None for a task id."""
    if isinstance(id, str) and id.startswith(SCHEDULE_PREFIX) and id[1:].isdigit():
        return int(id[1:])
    return None


class Tasks:
    """Tasks of one supervisor. ``Tasks()`` connects to ``TRIGGERFISH_URL``."""

    def __init__(self, client: Client | None = None) -> None:
        self._own = client is None
        self.client = client if client is not None else Client()

    def close(self) -> None:
        if self._own:
            self.client.close()

    def __enter__(self) -> Tasks:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ adding

    def _body(self, target: Target, params: Any, *, pickle: bool, **options: Any) -> dict[str, Any]:
        encoding: Encoding = "pickle" if pickle else "json"
        body: dict[str, Any] = {
            "target": target_of(target),
            "params": encode_params(params, encoding),
        }
        if pickle:
            body["encoding"] = "pickle"
        body.update({k: v for k, v in options.items() if v is not None})
        return body

    def add(
        self,
        target: Target,
        params: Any = None,
        *,
        retries: int | None = None,
        retry_delay: float | None = None,
        timeout: float | None = None,
        priority: int | None = None,
        name: str | None = None,
        pickle: bool = False,
    ) -> int:
        """Run ``target(params)`` on a worker as soon as possible; returns the task id.

        It returns once the supervisor has committed the task to its database (a crash of
        the supervisor does not lose it); any call after it sees the task. Adds from several
        threads or processes at once share commits; for many tasks from one caller,
        :meth:`add_many` is faster. ``retries``: attempts after a failure (``retrywork``);
        ``timeout``: seconds before the task's process is killed and the attempt fails.
        """
        body = self._body(
            target, params, pickle=pickle, retries=retries, retry_delay=retry_delay,
            timeout=timeout, priority=priority, name=name,
        )  # fmt: skip
        return int(self.client.add_task(body)["id"])

    def add_many(
        self,
        target: Target,
        params: Iterable[Any],
        *,
        retries: int | None = None,
        retry_delay: float | None = None,
        timeout: float | None = None,
        priority: int | None = None,
        name: str | None = None,
        pickle: bool = False,
    ) -> builtins.list[int]:
        """One task ``target(p)`` for each ``p`` of ``params``, added in one call (one commit,
        all or nothing); their ids, in order. Each is a task of its own, as with ``add``."""
        bodies = [
            self._body(
                target,
                p,
                pickle=pickle,
                retries=retries,
                retry_delay=retry_delay,
                timeout=timeout,
                priority=priority,
                name=name,
            )
            for p in params
        ]
        if not bodies:
            return []
        return [int(t["id"]) for t in self.client.add_tasks(bodies)]

    def add_scheduled(
        self, target: Target, params: Any = None, *, at: datetime | float, **options: Any
    ) -> int:
        """Run ``target(params)`` once, not before ``at``; returns the task id."""
        pickle = bool(options.pop("pickle", False))
        body = self._body(target, params, pickle=pickle, at=when(at, "at"), **options)
        return int(self.client.add_task(body)["id"])

    def add_recurring(
        self,
        target: Target,
        params: Any = None,
        *,
        every: float,
        start: datetime | float | None = None,
        key: str | None = None,
        policy: Policy = "skip",
        **options: Any,
    ) -> str:
        """Run ``target(params)`` every ``every`` seconds from ``start`` (default: now).

        Unique by (target, key): adding it again replaces it. ``policy`` says what a period
        does while the previous run still goes: ``skip`` it, ``queue`` one run after it, or
        ``allow`` both to run. Returns the schedule id (``"r12"``).
        """
        pickle = bool(options.pop("pickle", False))
        body = self._body(
            target, params, pickle=pickle, every=every,
            start=None if start is None else when(start, "start"), key=key, policy=policy,
            **options,
        )  # fmt: skip
        return f"{SCHEDULE_PREFIX}{int(self.client.add_schedule(body)['id'])}"

    # ------------------------------------------------------------------ reading

    def get(self, id: int) -> dict[str, Any]:
        """The task now: status, result, error, traceback, retry, host, times."""
        return self.client.task(int(id))

    def list(self, *, done: bool = False) -> builtins.list[dict[str, Any]]:
        """Recurring schedules (``kind: "recurring"``, id ``"r12"``) and tasks not yet
        finished (``kind: "task"``); ``done=True`` lists finished tasks too."""
        out: builtins.list[dict[str, Any]] = []
        for sch in self.client.schedules():
            out.append({**sch, "id": f"{SCHEDULE_PREFIX}{sch['id']}", "kind": "recurring"})
        status = None if done else "active"
        for t in self.client.tasks(status=status):
            out.append({**t, "kind": "task"})
        return out

    def remove(self, id: int | str) -> None:
        """Remove a task (killed if it runs) or a recurring schedule (``"r12"``)."""
        number = schedule_id(id)
        if number is not None:
            self.client.remove_schedule(number)
        else:
            self.client.remove_task(int(id))

    def pause(self, id: str) -> None:
        self.client.schedule_action(self._schedule(id), "pause")

    def resume(self, id: str) -> None:
        self.client.schedule_action(self._schedule(id), "resume")

    def _schedule(self, id: int | str) -> int:
        number = schedule_id(id)
        if number is None:
            raise ValidationError(f"{id!r} is not a schedule id ('r12')", field="id")
        return number

    def wait(self, id: int, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the task has ended (complete, failed, killed); the task then."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.001, deadline - time.monotonic())
            self.client.wait([int(id)], timeout=left)
            info = self.get(id)
            if info["status"] in ENDED:
                return info

    def result(self, id: int, timeout: float | None = None) -> Any:
        """The task's return value, once it has ended; TaskFailed (with the traceback) if it
        failed or was killed."""
        info = self.wait(id, timeout)
        if info["status"] != "complete":
            raise TaskFailed(
                f"task {id} ({info['target']}) {info['status']}: {info.get('error') or '-'}",
                task=int(id), status=info["status"], traceback=info.get("traceback"),
            )  # fmt: skip
        return info.get("result")
