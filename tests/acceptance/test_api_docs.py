"""``/docs`` and ``/redoc`` of a real supervisor, in a real browser kept off the internet:
every file they load comes from the supervisor, and they render the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser import launch, needs_browser, only_supervisor
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from triggerfish.cli.local import LocalFarm

SCREENSHOT = Path(__file__).parents[2] / "docs" / "img" / "api-docs.png"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    with LocalFarm(workers=0, data_dir=tmp_path_factory.mktemp("apidocs"), grace=5.0) as f:
        yield f


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


def console_errors(page: Page) -> list[str]:
    """What the page reports as errors (a refused script or style, a CSP violation), as
    they come."""
    errors: list[str] = []

    def seen(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            errors.append(msg.text)

    page.on("console", seen)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


@needs_browser
def test_swagger_ui_renders_with_nothing_from_elsewhere(farm: LocalFarm, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    refused = only_supervisor(page, farm.url)
    errors = console_errors(page)
    loaded: list[str] = []
    page.on("requestfinished", lambda r: loaded.append(r.url))
    page.goto(f"{farm.url}/docs")
    page.locator(".opblock").first.wait_for(timeout=30_000)
    assert page.locator(".opblock").count() > 20  # every route, not a stub
    assert page.locator(".info .title").inner_text().startswith("triggerfish")
    page.wait_for_load_state("networkidle")
    assert refused == [] and errors == []
    assert f"{farm.url}/apidocs/swagger-ui-bundle.js" in loaded
    assert f"{farm.url}/openapi.json" in loaded
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    page.close()


@needs_browser
def test_redoc_renders_with_nothing_from_elsewhere(farm: LocalFarm, browser: Browser) -> None:
    page = browser.new_page()
    refused = only_supervisor(page, farm.url)
    errors = console_errors(page)
    loaded: list[str] = []
    page.on("requestfinished", lambda r: loaded.append(r.url))
    page.goto(f"{farm.url}/redoc")
    page.locator("h1", has_text="triggerfish").wait_for(timeout=30_000)
    # an operation of the API, in the menu and in the body
    page.get_by_text("Liveness, without a token", exact=False).first.wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert refused == []
    # the only complaint: the browser kept ReDoc's logo from Redocly's CDN (CSP img-src)
    assert [e for e in errors if "cdn.redoc.ly" not in e] == [], errors
    assert f"{farm.url}/apidocs/redoc.standalone.js" in loaded
    page.close()


@needs_browser
def test_only_supervisor_refuses_and_records_other_hosts(farm: LocalFarm, browser: Browser) -> None:
    """The guard itself: a page that asks another host for a script gets nothing from it."""
    page = browser.new_page()
    refused = only_supervisor(page, farm.url)
    elsewhere = "http://cdn.example.invalid/lib.js"
    dot = "data:image/gif;base64,R0lGODlhAQABAAAAACw="  # stays in the browser: allowed
    html = f'<script src="{elsewhere}"></script><img src="{dot}">'
    page.route(f"{farm.url}/page", lambda route: route.fulfill(content_type="text/html", body=html))
    page.goto(f"{farm.url}/page")
    page.wait_for_load_state("networkidle")
    assert refused == [elsewhere]
    page.close()


def test_the_pages_and_their_files_need_no_token(farm: LocalFarm) -> None:
    with httpx.Client(base_url=farm.url, timeout=10) as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert http.get(path).status_code == 200, path
        docs, redoc = http.get("/docs"), http.get("/redoc")
        for answer in (docs, redoc):  # the browser loads nothing from elsewhere
            assert "default-src 'self'" in answer.headers["content-security-policy"]
        for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
            answer = http.get(f"/apidocs/{name}")
            assert answer.status_code == 200 and len(answer.content) > 10_000, name
        assert http.get("/apidocs/favicon.png").headers["content-type"] == "image/png"
        assert http.get("/api/v1/jobs").status_code == 401  # the API still wants one
        paths = http.get("/openapi.json").json()["paths"]
    assert "/apidocs/swagger-ui-bundle.js" in docs.text and "/openapi.json" in docs.text
    assert "/apidocs/redoc.standalone.js" in redoc.text
    assert '"validatorUrl": null' in docs.text  # no badge from validator.swagger.io
    for page in (docs.text, redoc.text):
        assert "https://" not in page and "http://" not in page  # nothing from elsewhere
    assert not [p for p in paths if not p.startswith("/api/")]  # the pages are not the API
