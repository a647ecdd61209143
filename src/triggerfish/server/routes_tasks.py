"""Routes of background tasks: a task is a job of prototype ``task`` with one work item."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Body, Query, Request

from triggerfish.api import schemas as s
from triggerfish.api.tasks import TaskAdded, TaskInfo, TaskList
from triggerfish.engine import control as ctl
from triggerfish.engine import submit as sub
from triggerfish.errors import NotFound
from triggerfish.model.invalid import invalid
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.tasks import TASK_ITEM, TaskRequest
from triggerfish.server.context import ctx
from triggerfish.server.routes_jobs import check_pickle, job_statuses
from triggerfish.store import reads

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


def task_info(row: dict[str, Any]) -> TaskInfo:
    """A task from its job row (with its agenda)."""
    item = next((w for w in row.get("agenda", []) if w["name"] == TASK_ITEM), None)
    result = (item or {}).get("result") or {}
    return TaskInfo(
        id=row["id"], target=str((row["package"] or {}).get("target", "")), name=row["name"],
        status=row["status"], result=result.get("value"), error=result.get("error"),
        traceback=result.get("traceback"), retry=(item or {}).get("retry", 0),
        host=(item or {}).get("host"), timesubmit=row["timesubmit"],
        timestart=row["timestart"], timecomplete=row["timecomplete"],
    )  # fmt: skip


def parse_request(body: Any) -> TaskRequest:
    try:
        return TaskRequest.model_validate(body)
    except pydantic.ValidationError as exc:
        raise invalid(exc) from None


@router.post("", status_code=201, response_model=TaskAdded)
async def add_task(request: Request, body: Annotated[Any, Body()]) -> TaskAdded:
    """Add a task: ``{"target": "pkg.module:function", "params": ..., "retries"?, ...}``."""
    c = ctx(request)
    req = parse_request(body)
    jobs = parse_jobs([req.job()])
    check_pickle(c, jobs)
    answer = await c.engine.acall(sub.submit, jobs, "unknown")
    job = answer.jobs[0]
    return TaskAdded(id=job.id, target=req.target, status=job.status)


@router.get("", response_model=TaskList)
async def list_tasks(
    request: Request,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> TaskList:
    """Tasks, newest first; ``status`` may be a comma list (``done``, ``active`` too)."""
    c = ctx(request)
    rows = await asyncio.to_thread(
        reads.list_tasks, c.store.engine, status=job_statuses(status), limit=limit
    )
    return TaskList(tasks=[task_info(r) for r in rows])


@router.get("/{task_id}", response_model=TaskInfo)
async def get_task(request: Request, task_id: int) -> TaskInfo:
    c = ctx(request)
    row = await asyncio.to_thread(reads.get_job, c.store.engine, task_id, agenda=True)
    if row is None or row["prototype"] != "task":
        raise NotFound(f"task {task_id} does not exist", field="task")
    return task_info(row)


@router.delete("/{task_id}")
async def remove_task(request: Request, task_id: int) -> dict[str, Any]:
    """Remove a task (killed first if it runs)."""
    c = ctx(request)
    row = await asyncio.to_thread(reads.get_job, c.store.engine, task_id, agenda=False)
    if row is None or row["prototype"] != "task":
        raise NotFound(f"task {task_id} does not exist", field="task")
    req = s.ControlRequest(action="remove", targets=[str(task_id)])
    await c.engine.acall(ctl.control, req)
    return {"removed": task_id}
