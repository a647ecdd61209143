"""The web page a wrangler watches the farm on, served by the supervisor at ``/``.

Server-rendered HTML (Jinja2 templates in ``templates/``) with one small bundled script
(``static/app.js``) that follows ``GET /api/v1/events/stream`` and calls the API for the
controls: every asset is in the package, nothing comes from the internet. A user logs in with
an API token and gets a session cookie (``auth.sessions``); the page then calls the same API
routes with the same permissions as the token would.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from triggerfish.web import events, hosts, job, jobs, pages, tasks
from triggerfish.web.render import STATIC_DIR

STATIC_PATH = "/static/web"


def add_web(app: FastAPI) -> None:
    """The page's routes (outside the OpenAPI schema) and its static files."""
    for module in (pages, jobs, job, hosts, tasks, events):
        app.include_router(module.router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="web-static")
