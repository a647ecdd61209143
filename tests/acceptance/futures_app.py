"""Functions the futures tests run on the farm (the workers import this module: the test puts
this directory on their PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def fail(message: str) -> None:
    raise ValueError(message)


def wait_for(path: str) -> str:
    """Return once ``path`` exists (the test creates it: no sleeping in the test itself)."""
    while not Path(path).exists():
        time.sleep(0.02)
    return path


def touch(path: str) -> str:
    Path(path).write_text("ran")
    return path


def getenv(name: str) -> str | None:
    return os.environ.get(name)
