"""The OpenAPI document: request bodies the routes parse by hand, and every error answer.

Several routes read their JSON body themselves (the hot worker routes with pydantic's JSON
codec; submissions and tasks, whose errors name ``jobs[i].field`` as they always have): their
request schemas are declared here (:func:`json_body`) and put into the components. Every
operation also declares the error answers it can give, all with :class:`ErrorResponse`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from triggerfish.api import schemas as s
from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.model.jobspec import JobSpec
from triggerfish.model.tasks import ScheduleRequest, TaskRequest

MAX_MANY = 10_000  # tasks in one POST /tasks/many


class JobsRequest(BaseModel):
    """``POST /jobs`` also takes ``{"jobs": [job, ...]}``."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[JobSpec] = Field(min_length=1)


class TasksRequest(BaseModel):
    """``POST /tasks/many``: ``{"tasks": [task, ...]}``."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskRequest] = Field(min_length=1, max_length=MAX_MANY)


class ModifyRequest(BaseModel):
    """``POST /jobs/{id}/{action}``: ``{}``, or for ``modify`` the fields to change."""

    fields: dict[str, Any] = Field(default_factory=dict)


REQUEST_MODELS: list[type[BaseModel]] = [
    s.RegisterRequest, s.PullRequest, s.ReportRequest, s.LogChunk, s.SignOffRequest, JobSpec,
    JobsRequest, TaskRequest, TasksRequest, ScheduleRequest, CallbackSpec, ModifyRequest,
]  # fmt: skip


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def json_body(*schemas: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` of a route that parses its JSON body itself: one of ``schemas``."""
    schema = schemas[0] if len(schemas) == 1 else {"anyOf": list(schemas)}
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": required, "content": content}}


JOBS_BODY = json_body(
    {"type": "array", "items": ref(JobSpec), "minItems": 1}, ref(JobSpec), ref(JobsRequest)
)

ERROR_TEXT = {
    "401": "No token, or an unknown one",
    "403": "The token's user may not do this",
    "404": "No such job, item, task, user, host or callback",
    "409": "Not in the current state (e.g. unblocking a running job)",
    "413": "The request body is over the supervisor's --max-body",
    "422": "A field or parameter that is not valid (named in ``field``)",
    "503": "The store is unavailable (or its disk is full); try again",
}


def errors_of(path: str, method: str) -> list[str]:
    """The error statuses an operation can answer: every request is authenticated (401),
    limited (413), validated (422) and may meet the store down (503), and a permission may be
    missing (403); a path with an id names something that may not exist (404); a change may
    not fit the current state (409)."""
    out = ["401", "403", "413", "422", "503"]
    if "{" in path or path.endswith(("/control", "/pull", "/report", "/log")):
        out.append("404")
    if method != "get":
        out.append("409")
    return sorted(out)


def add_components(openapi: dict[str, Any]) -> None:
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    models: list[type[BaseModel]] = [*REQUEST_MODELS, s.ErrorResponse]
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's, not ours
        schemas.pop(unused, None)


def add_errors(openapi: dict[str, Any]) -> None:
    for path, ops in openapi.get("paths", {}).items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's HTTPValidationError: ours is ErrorResponse
            for status in errors_of(path, method):
                content = {"application/json": {"schema": ref(s.ErrorResponse)}}
                responses[status] = {"description": ERROR_TEXT[status], "content": content}


def build(app: FastAPI) -> dict[str, Any]:
    openapi = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    add_components(openapi)
    add_errors(openapi)
    openapi["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    openapi["security"] = [{"bearer": []}]
    return openapi
