"""A real browser for the tests of the web page and the API docs: Debian's Chromium driven by
Playwright for Python (its own browser download cannot work here; ``.ci/run`` installs the
``chromium`` package).

- :func:`launch` starts headless Chromium with the flags this machine needs.
- :func:`only_supervisor` makes a page refuse (and record) every request that does not go to
  the supervisor under test: the page must work with no internet.
- :func:`require_chromium` skips a test when the browser is missing, except under ``CI=true``,
  where it fails.
- :data:`SHOTS`: where tests save the screenshots docs/ shows.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path(os.environ.get("TRIGGERFISH_TEST_CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "img"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip without a browser (fail under CI: ``.ci/run`` installs it)."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


def launch(playwright: object):  # type: ignore[no-untyped-def]
    """Headless Chromium (a ``playwright.sync_api.Browser``)."""
    require_chromium()
    return playwright.chromium.launch(  # type: ignore[attr-defined]
        executable_path=str(CHROMIUM), headless=True, args=ARGS
    )


def only_supervisor(page: object, base_url: str) -> list[str]:
    """Route every request of ``page``: those to ``base_url``'s host and port go on, the
    others are aborted and their URLs appended to the list returned (assert it stays empty).
    ``data:`` and ``blob:`` URLs are the page's own."""
    allowed = urlsplit(base_url).netloc
    refused: list[str] = []

    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc == allowed:
            r.continue_()  # type: ignore[attr-defined]
        else:
            refused.append(url)
            r.abort()  # type: ignore[attr-defined]

    page.route("**/*", route)  # type: ignore[attr-defined]
    return refused


def shot(page: object, name: str) -> Path:
    """Save a screenshot for the docs (docs/img/NAME.png) and return its path."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
