"""Tasks, the pure part: targets, params, and a task as a job (client, server and workers).

A target is ``"package.module:function"`` (or ``"module:Class.method"``), or
``"service:method"`` for a service registered on the workers. AMsoil's two arguments
``("mod", "fn")`` are the same target as ``"mod:fn"``. Params are one JSON value; with
``encoding="pickle"`` they are a pickle, sent as base64 text.
"""

from __future__ import annotations

import base64
import binascii
import json
import pickle
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triggerfish.errors import TriggerfishError, ValidationError
from triggerfish.model.finite import check_finite
from triggerfish.model.when import time_atom_text

Encoding = Literal["json", "pickle"]
ENCODINGS = ("json", "pickle")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
TARGET_RE = re.compile(rf"^{_NAME}(?:\.{_NAME})*:{_NAME}(?:\.{_NAME})*$")
MAX_TARGET = 255
# the last moment a time may name (a job's ``after``, a task's ``at``: 9999-12-31T23:59:59Z,
# the end of the calendar the store's and the API's times are written in)
MAX_TIME = 253_402_300_799.0
MAX_SECONDS = 100 * 365 * 86400.0  # the longest delay or time limit (a century)


def check_target(target: object, field: str = "target") -> str:
    """The target if it is well formed; ValidationError naming ``field`` otherwise."""
    if not isinstance(target, str):
        raise ValidationError(
            f"{field}: expected a string 'package.module:function', got {type(target).__name__}",
            field=field,
        )
    if len(target) > MAX_TARGET or not TARGET_RE.match(target):
        raise ValidationError(
            f"{field}: {target!r} is not 'package.module:function' or 'service:method'",
            field=field,
        )
    return target


def join_target(service: str, method: str) -> str:
    """AMsoil's ``(service, method)`` as one target: ``"service:method"``."""
    return check_target(f"{service}:{method}", "service")


def target_of(fn: str | Callable[..., Any]) -> str:
    """A target string, from a string or from a module-level function marked ``@task``."""
    if isinstance(fn, str):
        return check_target(fn)
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise ValidationError(
            "target: pass 'package.module:function' for a function that is not importable "
            f"by its module ({module}:{qualname})",
            field="target",
        )
    return check_target(f"{module}:{qualname}")


def encode_params(params: Any, encoding: Encoding = "json") -> Any:
    """What goes on the wire: the JSON value itself, or base64 text of a pickle."""
    if encoding == "pickle":
        return base64.b64encode(pickle.dumps(params)).decode("ascii")
    try:
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"params: not JSON ({exc}); pass JSON values, or encoding='pickle' where the "
            "supervisor allows it",
            field="params",
        ) from None
    return params


class ParamsError(TriggerfishError):
    """Params that do not decode (on a worker)."""


def decode_params(raw: Any, encoding: str) -> Any:
    if encoding == "json":
        return raw
    if encoding == "pickle":
        if not isinstance(raw, str):
            raise ParamsError("params: a pickle must come as base64 text")
        try:
            data = base64.b64decode(raw.encode("ascii"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ParamsError(f"params: not base64 ({exc})") from None
        try:
            return pickle.loads(data)  # only where the supervisor allows pickle
        except Exception as exc:
            raise ParamsError(f"params: the pickle does not load ({exc!r})") from None
    raise ParamsError(f"params: unknown encoding {encoding!r} (json, pickle)")


# ---------------------------------------------------------------- a task as a job

TASK_ITEM = "task"  # the name of a task job's one work item


def check_package(pkg: dict[str, Any], where: str = "job") -> None:
    """The package of a ``task`` job: target, params, encoding, timeout."""
    check_target(pkg.get("target"), f"{where}.package.target")
    unknown = sorted(set(pkg) - {"target", "params", "encoding", "timeout"})
    if unknown:
        raise ValidationError(
            f"{where}.package.{unknown[0]}: unknown field of a task (target, params, "
            "encoding, timeout)",
            field=f"{where}.package.{unknown[0]}",
        )
    enc = pkg.get("encoding", "json")
    if enc not in ENCODINGS:
        raise ValidationError(
            f"{where}.package.encoding: {enc!r} is not one of json, pickle",
            field=f"{where}.package.encoding",
        )
    if enc == "pickle" and not isinstance(pkg.get("params"), str):
        raise ValidationError(
            f"{where}.package.params: pickled params must be base64 text",
            field=f"{where}.package.params",
        )
    timeout = pkg.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_SECONDS
    ):
        raise ValidationError(
            f"{where}.package.timeout: expected a number of seconds > 0 and ≤ {MAX_SECONDS:g}",
            field=f"{where}.package.timeout",
        )


def uses_pickle(prototype: str, package: dict[str, Any]) -> bool:
    return prototype == "task" and package.get("encoding") == "pickle"


class TaskRequest(BaseModel):
    """``POST /api/v1/tasks``: one task to run as soon as possible (or ``at`` a time)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    target: Annotated[str, Field(max_length=MAX_TARGET)]
    params: Any = None
    encoding: Encoding = "json"
    name: Annotated[str, Field(max_length=256)] | None = None
    priority: Annotated[int, Field(ge=1, le=9999)] = 9999
    retries: Annotated[int, Field(ge=0, le=1000)] = 0
    retry_delay: Annotated[float, Field(ge=0, le=MAX_SECONDS)] = 0.0
    timeout: Annotated[float, Field(gt=0, le=MAX_SECONDS)] | None = None
    # not before this time (unix seconds): the job's ``after``
    at: Annotated[float, Field(ge=0, le=MAX_TIME)] | None = None

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not TARGET_RE.match(value):
            raise ValueError(f"{value!r} is not 'package.module:function' or 'service:method'")
        return value

    @model_validator(mode="after")
    def _pickle_is_text(self) -> TaskRequest:
        if self.encoding == "pickle" and not isinstance(self.params, str):
            raise ValueError("params: pickled params must be base64 text")
        return self

    def options(self) -> dict[str, Any]:
        """What a job of this task takes besides target and params (kept by a schedule)."""
        return self.model_dump(include=OPTION_FIELDS, exclude_defaults=True)

    def checked_job(self, where: str = "") -> dict[str, Any]:
        """:meth:`job`, once the params hold no NaN or infinity (the error names the field as
        the caller sent it: ``{where}params…``)."""
        check_finite(self.params, f"{where}params")
        return self.job()

    def job(self) -> dict[str, Any]:
        """The job dict of this task (prototype ``task``, one work item)."""
        package: dict[str, Any] = {"target": self.target, "params": self.params}
        if self.encoding != "json":
            package["encoding"] = self.encoding
        if self.timeout is not None:
            package["timeout"] = self.timeout
        job: dict[str, Any] = {
            "name": self.name or self.target,
            "prototype": "task",
            "priority": self.priority,
            "retrywork": self.retries,
            "retrywork_delay": self.retry_delay,
            "package": package,
        }
        if self.at is not None:  # held (blocked) until then, by a time atom: never early
            job["after"] = time_atom_text(datetime.fromtimestamp(self.at, UTC))
        return job


OPTION_FIELDS = {"name", "priority", "retries", "retry_delay", "timeout"}
Policy = Literal["skip", "queue", "allow"]
MIN_EVERY = 0.1


class ScheduleRequest(TaskRequest):
    """``POST /api/v1/schedules``: a recurring task, unique by (target, key)."""

    every: Annotated[float, Field(ge=MIN_EVERY, le=10 * 365 * 86400)]
    # the first run (default: now); the grid is start + k * every
    start: Annotated[float, Field(ge=0, le=MAX_TIME)] | None = None
    key: Annotated[str, Field(max_length=255)] | None = None
    policy: Policy = "skip"

    @model_validator(mode="after")
    def _no_at(self) -> ScheduleRequest:
        if self.at is not None:
            raise ValueError("at: a recurring task takes start, not at")
        return self
