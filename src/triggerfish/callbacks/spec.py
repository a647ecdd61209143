"""A callback as submitted with a job (Qube's ``{"triggers", "language", "code"}`` dict).

Languages: ``qube`` (built-in actions), ``python``, ``perl``, ``exec`` (code: a command line)
and ``mail`` (code: optional text added to the status mail).
"""

from __future__ import annotations

import shlex
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from triggerfish.callbacks.qube import parse_actions
from triggerfish.triggers import TriggerSyntaxError, parse

LANGUAGES = ("qube", "python", "perl", "mail", "exec")
# Languages whose code runs in a process of its own (needs the submit_callback permission).
CODE_LANGUAGES = ("python", "perl", "exec")


class CallbackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    triggers: Annotated[str, Field(min_length=1, max_length=100_000)]
    language: str = "qube"
    code: str = ""
    maximum: Annotated[int, Field(ge=1)] | None = None
    catchup: bool = True

    @field_validator("triggers")
    @classmethod
    def _triggers(cls, value: str) -> str:
        try:
            parse(value)
        except TriggerSyntaxError as exc:  # located by pydantic: jobs[i].callbacks[j].triggers
            raise ValueError(exc.message) from None
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"unknown language {value!r} (known: {', '.join(LANGUAGES)})")
        return value

    @model_validator(mode="after")
    def _code(self) -> CallbackSpec:
        if self.language == "qube":
            try:
                parse_actions(self.code)
            except ValueError as exc:
                raise PydanticCustomError("code", "code: {msg}", {"msg": str(exc)}) from None
        elif self.language == "python":
            if not self.code.strip():
                raise PydanticCustomError("code", "code: a python callback needs code", {})
            try:
                compile(self.code, "<callback>", "exec")
            except SyntaxError as exc:
                raise PydanticCustomError(
                    "code", "code: line {line}: {msg}", {"line": exc.lineno, "msg": exc.msg}
                ) from None
        elif self.language == "perl":
            if not self.code.strip():
                raise PydanticCustomError("code", "code: a perl callback needs code", {})
        elif self.language == "exec":
            try:
                argv = shlex.split(self.code)
            except ValueError as exc:
                raise PydanticCustomError(
                    "code", "code: not a command line: {msg}", {"msg": str(exc)}
                ) from None
            if not argv:
                raise PydanticCustomError("code", "code: an exec callback needs a command line", {})
        return self
