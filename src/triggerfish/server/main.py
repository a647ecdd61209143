"""``triggerfish supervisor``: serve the API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

import uvicorn

from triggerfish.server.app import create_app
from triggerfish.settings import ServerSettings


def serve(settings: ServerSettings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.bind,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
