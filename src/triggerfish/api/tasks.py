"""The task routes' answers (requests: :class:`triggerfish.model.tasks.TaskRequest`).

POST   /api/v1/tasks              TaskRequest -> 201 TaskAdded
POST   /api/v1/tasks/many         {"tasks": [TaskRequest]} -> 201 {"tasks": [TaskAdded]}
GET    /api/v1/tasks?status=&limit=&before=  -> {"tasks": [TaskInfo]}  (newest first)
GET    /api/v1/tasks/{id}         -> TaskInfo (result or error and traceback)
DELETE /api/v1/tasks/{id}         -> {"removed": id}
POST   /api/v1/schedules          ScheduleRequest -> 201 ScheduleInfo (replaces by target+key)
GET    /api/v1/schedules          -> {"schedules": [ScheduleInfo]}
GET    /api/v1/schedules/{id}     -> ScheduleInfo
POST   /api/v1/schedules/{id}/pause, /resume -> ScheduleInfo
DELETE /api/v1/schedules/{id}     -> {"removed": id}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class TaskAdded(BaseModel):
    id: int
    target: str
    status: str


class TasksAdded(BaseModel):
    tasks: list[TaskAdded]


class TaskInfo(BaseModel):
    id: int  # the id of the task's job
    target: str
    name: str
    status: str  # the job's: pending, running, complete, failed, killed, blocked (until at), ...
    result: Any = None  # the return value (JSON) once complete
    error: str | None = None  # why the last attempt failed
    traceback: str | None = None
    retry: int = 0  # retries used
    host: str | None = None
    timesubmit: float | None = None
    timestart: float | None = None
    timecomplete: float | None = None


class TaskList(BaseModel):
    tasks: list[TaskInfo]


class ScheduleInfo(BaseModel):
    """A recurring task, its next run and what its last run gave."""

    id: int
    target: str
    key: str | None = None
    user: str = ""  # the owner; the tasks it creates are this user's
    params: Any = None
    encoding: str = "json"
    options: dict[str, Any] = {}
    every: float
    start: float  # the grid: start + k * every
    policy: str
    paused: bool = False
    created: float
    runs: int = 0  # tasks it created
    skipped: int = 0  # periods skipped while the previous run still went
    next_run: float | None = None
    last_run: float | None = None
    last_task: int | None = None
    last_status: str | None = None
    last_result: Any = None
    last_error: str | None = None


class ScheduleList(BaseModel):
    schedules: list[ScheduleInfo]
