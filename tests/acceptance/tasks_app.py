"""Task functions for the task tests: the workers import this module (its directory goes on
PYTHONPATH, and TRIGGERFISH_TASK_IMPORTS names it so that its service is registered)."""

from __future__ import annotations

import os
import time
from typing import Any

from triggerfish.tasks import register_service, task


@task
def echo(params: Any) -> Any:
    print("echo says", params)
    return {"got": params}


@task
def boom(params: Any) -> None:
    raise ValueError(f"kaput {params}")


def undecorated(params: Any) -> int:
    return 1


@task
def die(params: Any) -> None:
    os._exit(3)


@task
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task
def record(params: dict[str, Any]) -> Any:
    """Append ``n`` and the time to ``file`` (one line per run), after ``sleep`` seconds."""
    time.sleep(params.get("sleep", 0))
    with open(params["file"], "a", encoding="utf-8") as f:
        f.write(f"{params['n']} {time.time():.6f}\n")
    return params["n"]


@task
def pid(params: Any) -> int:
    """The pid of the task process."""
    return os.getpid()


@task
def not_json(params: Any) -> object:
    return object()


class Greeter:
    def __init__(self) -> None:
        self.greeting = "hi"

    @task
    def hello(self, params: Any) -> str:
        return f"{self.greeting} {params}"


register_service("greeter", Greeter)


@task
def kinds(params: Any) -> str:
    """The type of the params (pickle carries what JSON cannot)."""
    return type(params).__name__


@task
def spawn(params: Any) -> int:
    """Add an ``echo`` task as this task's owner (its job token); the new task's id."""
    from triggerfish import tasks

    return tasks.add("tasks_app:echo", params)


@task
def huge(size: int) -> str:
    """A result of ``size`` characters."""
    return "x" * size
