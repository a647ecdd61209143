"""Fixtures of the web page's tests: a real farm (supervisor and workers) and a logged-in
Chromium page on it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/browser.py

from browser import launch, only_supervisor, require_chromium
from webtab import Tab, login

from triggerfish.cli.local import LocalFarm

JOBTYPES = Path(__file__).parent / "jobtypes"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    """One farm per test module (2 workers, 2 slots each, offering the job types of
    tests/web/jobtypes), stopped at the end."""
    types = ["--jobtypes", str(JOBTYPES)]
    farm = LocalFarm(
        data_dir=tmp_path_factory.mktemp("webfarm"),
        workers=2,
        slots=2,
        grace=5.0,
        worker_args=[types, types],
    ).start()
    try:
        yield farm
    finally:
        farm.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def tab(farm: LocalFarm, browser: object) -> Iterator[Tab]:
    """A new browser context logged in as the farm's local admin; at the end, no request of
    the page went anywhere but the supervisor."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    refused = only_supervisor(page, farm.url)
    assert farm.token is not None
    login(page, farm.url, farm.token)
    yield Tab(page, farm.url, refused)
    context.close()
    assert refused == [], f"the page asked for something outside the supervisor: {refused}"
