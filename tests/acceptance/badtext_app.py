"""Task functions whose results and errors hold text no store or JSON can (a NUL, a lone
surrogate): the workers import this module by its targets (its directory is on PYTHONPATH)."""

from __future__ import annotations

from typing import Any

from triggerfish.tasks import task


@task
def nul(params: Any) -> Any:
    return {"text": "a\x00b", "k\x00": 1}


@task
def surrogate(params: Any) -> str:
    return "x\ud800y"


@task
def raise_nul(params: Any) -> None:
    raise ValueError("bad\x00news \udc80")
