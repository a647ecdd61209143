"""Fixtures of the end-to-end tests: real farms (supervisor + workers) that stop afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from farms import StartFarm

from triggerfish.cli.local import LocalFarm

HERE = Path(__file__).parent
TASKS_APP = "tasks_app"  # the task functions of the tests, in tasks_app.py next to this file


@pytest.fixture
def start_farm(tmp_path: Path) -> Iterator[StartFarm]:
    """``start_farm(db_url, **LocalFarm options)``: a started farm in ``tmp_path/farm`` (the
    same data dir each call, so a second farm finds the first one's files), stopped at the
    end of the test."""
    farms: list[LocalFarm] = []

    def start(db_url: str | None = None, **kw: object) -> LocalFarm:
        farm = LocalFarm(data_dir=tmp_path / "farm", db_url=db_url, grace=5.0, **kw)  # type: ignore[arg-type]
        farms.append(farm)
        return farm.start()

    yield start
    for farm in farms:
        farm.stop()


@pytest.fixture
def tasks_app(monkeypatch: pytest.MonkeyPatch) -> str:
    """Workers (children of the farm) import tasks_app and register its service."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("TRIGGERFISH_TASK_IMPORTS", TASKS_APP)
    return TASKS_APP
