"""Routes of background tasks: a task is a job of prototype ``task`` with one work item."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from fastapi import APIRouter, Query, Request

from triggerfish.api import schemas as s
from triggerfish.api.tasks import (
    ScheduleInfo,
    ScheduleList,
    TaskAdded,
    TaskInfo,
    TaskList,
    TasksAdded,
)
from triggerfish.auth.permissions import SUBMIT
from triggerfish.engine import access
from triggerfish.engine import schedules as sched
from triggerfish.engine import submit as sub
from triggerfish.errors import NotFound, ValidationError
from triggerfish.model.invalid import invalid
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.tasks import TASK_ITEM, ScheduleRequest, TaskRequest
from triggerfish.server.auth import who
from triggerfish.server.context import Ctx, ctx
from triggerfish.server.openapi import MAX_MANY, TasksRequest, json_body, ref
from triggerfish.server.params import Id, OptionalId
from triggerfish.server.routes_jobs import check_pickle, job_statuses, json_of
from triggerfish.store import reads

router = APIRouter(prefix="/api/v1", tags=["tasks"])
R = TypeVar("R", bound=TaskRequest)


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


def parse_request(body: Any, model: type[R]) -> R:
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        raise invalid(exc) from None


@router.post("/tasks", status_code=201, response_model=TaskAdded,
             openapi_extra=json_body(ref(TaskRequest)))  # fmt: skip
async def add_task(request: Request) -> TaskAdded:
    """Add a task: ``{"target": "pkg.module:function", "params": ..., "retries"?, ...}``;
    answered once it is committed (with the adds that came with it: group commit)."""
    c = ctx(request)
    me = who(request)
    me.require(SUBMIT, "adding tasks")
    req = parse_request(await json_of(request), TaskRequest)
    job = req.checked_job()
    jobs = parse_jobs([job])
    check_pickle(c, jobs)
    for nj in jobs:
        nj.spec.user = me.name
    answer = await c.engine.acall(sub.submit, jobs, me.name)
    added = answer.jobs[0]
    return TaskAdded(id=added.id, target=req.target, status=added.status)


@router.post("/tasks/many", status_code=201, response_model=TasksAdded,
             openapi_extra=json_body(ref(TasksRequest)))  # fmt: skip
async def add_tasks(request: Request) -> TasksAdded:
    """Add several tasks in one call and one commit: ``{"tasks": [task, ...]}``; each is a task
    of its own, as if added alone. All or nothing: one bad task refuses the call."""
    c = ctx(request)
    me = who(request)
    me.require(SUBMIT, "adding tasks")
    body = await json_of(request)
    items = body.get("tasks") if isinstance(body, dict) and set(body) == {"tasks"} else None
    if not isinstance(items, list) or not items:
        raise ValidationError('expected {"tasks": [task, ...]} with at least one task',
                              field="tasks")  # fmt: skip
    if len(items) > MAX_MANY:
        raise ValidationError(f"tasks: at most {MAX_MANY} in one call", field="tasks")
    reqs: list[TaskRequest] = []
    for i, item in enumerate(items):
        try:
            reqs.append(TaskRequest.model_validate(item))
        except pydantic.ValidationError as exc:
            raise invalid(exc, f"tasks[{i}]") from None
    bodies = [r.checked_job(f"tasks[{i}].") for i, r in enumerate(reqs)]
    jobs = await asyncio.to_thread(parse_jobs, bodies)
    check_pickle(c, jobs)
    for nj in jobs:
        nj.spec.user = me.name
    added = await c.engine.acall(sub.submit_each, jobs, me.name)
    return TasksAdded(
        tasks=[TaskAdded(id=j.id, target=r.target, status=j.status)
               for j, r in zip(added, reqs, strict=True)]
    )  # fmt: skip


@router.get("/tasks", response_model=TaskList)
async def list_tasks(
    request: Request,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    before: OptionalId = None,
) -> TaskList:
    """Tasks, newest first; ``status`` may be a comma list (``done``, ``active`` too).

    Paging: ``before`` keeps the tasks with an id below it; pass the last id of a page to
    get the next (older) one.
    """
    c = ctx(request)
    rows = await asyncio.to_thread(
        reads.list_tasks, c.store.engine, status=job_statuses(status), limit=limit,
        before=before,
    )  # fmt: skip
    return TaskList(tasks=[task_info(r) for r in rows])


@router.get("/tasks/{task_id}", response_model=TaskInfo)
async def get_task(request: Request, task_id: Id) -> TaskInfo:
    c = ctx(request)
    row = await asyncio.to_thread(reads.get_job, c.store.engine, task_id, agenda=True)
    if row is None or row["prototype"] != "task":
        raise NotFound(f"task {task_id} does not exist", field="task")
    return task_info(row)


@router.delete("/tasks/{task_id}")
async def remove_task(request: Request, task_id: Id) -> dict[str, Any]:
    """Remove a task (killed first if it runs)."""
    c = ctx(request)
    row = await asyncio.to_thread(reads.get_job, c.store.engine, task_id, agenda=False)
    if row is None or row["prototype"] != "task":
        raise NotFound(f"task {task_id} does not exist", field="task")
    req = s.ControlRequest(action="remove", targets=[str(task_id)])
    await c.engine.acall(access.control, req, who(request))
    return {"removed": task_id}


# ---------------------------------------------------------------- recurring tasks


async def _with_last(c: Ctx, raw: dict[str, Any]) -> ScheduleInfo:
    """A schedule with the status and result of its last task, read from the store."""
    info = ScheduleInfo(**{k: v for k, v in raw.items() if k != "last_job"},
                        last_task=raw["last_job"])  # fmt: skip
    if info.last_task is not None:
        row = await asyncio.to_thread(reads.get_job, c.store.engine, info.last_task)
        if row is not None:
            last = task_info(row)
            info.last_status, info.last_result, info.last_error = (
                last.status,
                last.result,
                last.error,
            )
    return info


@router.post("/schedules", status_code=201, response_model=ScheduleInfo,
             openapi_extra=json_body(ref(ScheduleRequest)))  # fmt: skip
async def add_schedule(request: Request) -> ScheduleInfo:
    """Add a recurring task; one with the same target and key is replaced (atomically)."""
    c = ctx(request)
    me = who(request)
    me.require(SUBMIT, "adding recurring tasks")
    req = parse_request(await json_of(request), ScheduleRequest)
    check_pickle(c, parse_jobs([req.checked_job()]))  # the tasks it will create must be valid
    return await _with_last(c, await c.engine.acall(sched.add_schedule, req, me))


@router.get("/schedules", response_model=ScheduleList)
async def list_schedules(request: Request) -> ScheduleList:
    c = ctx(request)
    rows = await c.engine.acall(sched.list_schedules)
    return ScheduleList(schedules=[await _with_last(c, r) for r in rows])


@router.get("/schedules/{schedule_id}", response_model=ScheduleInfo)
async def get_schedule(request: Request, schedule_id: Id) -> ScheduleInfo:
    c = ctx(request)
    return await _with_last(c, await c.engine.acall(sched.get_schedule, schedule_id))


@router.post("/schedules/{schedule_id}/{action}", response_model=ScheduleInfo)
async def pause_schedule(
    request: Request, schedule_id: Id, action: Literal["pause", "resume"]
) -> ScheduleInfo:
    """Pause (no run until resumed) or resume (from the next point of its grid)."""
    c = ctx(request)
    raw = await c.engine.acall(sched.pause, schedule_id, action == "pause", who(request))
    return await _with_last(c, raw)


@router.delete("/schedules/{schedule_id}")
async def remove_schedule(request: Request, schedule_id: Id) -> dict[str, Any]:
    """Remove a recurring task (a run that goes on is not stopped)."""
    await ctx(request).engine.acall(sched.remove_schedule, schedule_id, who(request))
    return {"removed": schedule_id}
