"""The task routes' answers (requests: :class:`triggerfish.model.tasks.TaskRequest`).

POST   /api/v1/tasks              TaskRequest -> 201 TaskAdded
GET    /api/v1/tasks?status=&target=&limit=  -> {"tasks": [TaskInfo]}  (newest first)
GET    /api/v1/tasks/{id}         -> TaskInfo (result or error and traceback)
DELETE /api/v1/tasks/{id}         -> {"removed": id}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class TaskAdded(BaseModel):
    id: int
    target: str
    status: str


class TaskInfo(BaseModel):
    id: int  # the id of the task's job
    target: str
    name: str
    status: str  # the job's: pending, running, complete, failed, killed, blocked, ...
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
