"""Types shared by the end-to-end tests (the fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

from triggerfish.cli.local import LocalFarm

# the ``start_farm`` fixture: start_farm(db_url, **LocalFarm options) -> a started farm
StartFarm = Callable[..., LocalFarm]
