"""Browser tests: Debian's chromium driven by Playwright for Python, kept to the supervisor.

Playwright's own browser builds are never downloaded (no ``playwright install``): the
browser is the system's ``/usr/bin/chromium``, which ``.ci/run`` installs with apt-get.
A browser test is marked :data:`needs_browser`: without chromium it is skipped on a
developer's machine and fails under ``CI=true`` (CI must run it). Typical use::

    from browser import launch, needs_browser, only_supervisor
    from playwright.sync_api import sync_playwright

    @needs_browser
    def test_page(farm: LocalFarm) -> None:
        with sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page()
            refused = only_supervisor(page, farm.url)
            page.goto(f"{farm.url}/docs")
            ...
            assert refused == []  # the page asked nothing of anyone but the supervisor
            browser.close()

:func:`only_supervisor` stands for a farm without internet: any request (or WebSocket)
of the page to another origin than the supervisor's is refused, and its URL recorded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, WebSocketRoute

CHROMIUM = Path("/usr/bin/chromium")
# no sandbox (tests run as root), and none of the requests chromium makes on its own
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})  # never leave the browser

needs_browser = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason=f"no chromium at {CHROMIUM} (apt-get install chromium; CI installs it)",
)


def launch(playwright: Playwright, **options: object) -> Browser:
    """A headless chromium (the system's, see :data:`CHROMIUM`); ``options`` go to
    ``playwright.chromium.launch``. Close it when done (``browser.close()``)."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=ARGS,
        headless=True,
        **options,  # type: ignore[arg-type]
    )


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``, the port spelled out (80, 443) when implied."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    default = {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), parts.port or default


def only_supervisor(page: Page, base_url: str) -> list[str]:
    """Let every page of ``page``'s browser context reach the supervisor at ``base_url``
    only (its host and port; WebSockets too): any other request is aborted and its URL
    appended to the list returned, which the test then asserts empty. ``data:`` and
    ``blob:`` URLs stay in the browser and pass. Call it before ``page.goto``. (A service
    worker's own requests are not seen: a page that registers one needs a context made with
    ``service_workers="block"``.)"""
    _, host, port = origin(base_url)
    refused: list[str] = []

    def ours(url: str) -> bool:
        scheme, h, p = origin(url)
        return scheme in LOCAL_SCHEMES or (h, p) == (host, port)

    def on_request(route: Route) -> None:
        if ours(route.request.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("blockedbyclient")

    def on_websocket(ws: WebSocketRoute) -> None:
        if ours(ws.url):
            ws.connect_to_server()
        else:
            refused.append(ws.url)
            ws.close(code=1008, reason="not the supervisor")

    context = page.context
    context.route("**/*", on_request)
    context.route_web_socket(re.compile(".*"), on_websocket)
    return refused


SHOTS = Path(__file__).resolve().parents[1] / "docs" / "img"  # screenshots docs/ shows


def require_chromium() -> None:
    """For fixtures: skip without a browser, except under ``CI=true`` (fail: CI installs it)."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"no chromium at {CHROMIUM} (.ci/run installs it)")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")


def shot(page: Page, name: str) -> Path:
    """Save a screenshot for the docs (docs/img/NAME.png) and return its path."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
