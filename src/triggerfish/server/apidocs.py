"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with every file they load served from here.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc its fonts from Google):
on a farm without internet they stay blank. The same pages here take their scripts, style
sheet and icon from the files the ``fastapi-offline`` package ships (its ``static``
folder), served under :data:`STATIC`; nothing else of that package is used. The pages and
those files need no token (only ``/api/`` does, ``server.auth.TokenAuth``), like
``/openapi.json`` that they read.

ReDoc's menu shows a logo it always fetches from Redocly's CDN: the pages' Content Security
Policy (:data:`CSP`) lets them load nothing from elsewhere, so the browser does not ask (and
ReDoc hides the logo).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = "/apidocs"  # where the files are served (not under /static: a web page's own mount)
ASSETS_PACKAGE = "fastapi_offline"  # the PyPI package fastapi-offline
# Swagger UI shows a badge fetched from validator.swagger.io unless told not to
SWAGGER_PARAMETERS = {"validatorUrl": None}
# this origin only; inline: the pages' start-up script and the styles both UIs make;
# blob: the worker of ReDoc's search
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
])  # fmt: skip


def assets_dir() -> Path:
    """The folder of swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png."""
    return Path(str(files(ASSETS_PACKAGE).joinpath("static")))


def _root(request: Request) -> str:
    """The prefix a proxy serves this app under (``root_path``), as FastAPI's pages use it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _here_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page


def add_api_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` (outside the OpenAPI document) with their files under
    ``/apidocs/``. The app must be made with ``docs_url=None, redoc_url=None``."""
    app.mount(STATIC, StaticFiles(directory=assets_dir()), name="apidocs")

    def static(request: Request, name: str) -> str:
        return f"{_root(request)}{STATIC}/{name}"

    def openapi_url(request: Request) -> str:
        return f"{_root(request)}{app.openapi_url or ''}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return _here_only(
            get_swagger_ui_html(
                openapi_url=openapi_url(request),
                title=f"{app.title} - Swagger UI",
                swagger_js_url=static(request, "swagger-ui-bundle.js"),
                swagger_css_url=static(request, "swagger-ui.css"),
                swagger_favicon_url=static(request, "favicon.png"),
                swagger_ui_parameters=SWAGGER_PARAMETERS,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return _here_only(
            get_redoc_html(
                openapi_url=openapi_url(request),
                title=f"{app.title} - ReDoc",
                redoc_js_url=static(request, "redoc.standalone.js"),
                redoc_favicon_url=static(request, "favicon.png"),
                with_google_fonts=False,
            )
        )
