"""``triggerfish supervisor``: serve the API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

from types import FrameType
from typing import Any

import uvicorn

from triggerfish import logfmt
from triggerfish.auth.tokens import is_loopback
from triggerfish.callbacks.osuser import resolve
from triggerfish.errors import TriggerfishError
from triggerfish.server.app import create_app
from triggerfish.server.fastlane import FastLaneProtocol
from triggerfish.server.fastpath import Front
from triggerfish.settings import ServerSettings, make_data_dir
from triggerfish.store.db import open_engine
from triggerfish.store.users import count_users


def preflight(settings: ServerSettings) -> None:
    """Refuse to start what would be unsafe: another address than loopback while no user or
    worker token exists (only the local admin token would guard it), an unusable
    ``--callback-user``."""
    if settings.callback_user:
        resolve(settings.callback_user)
    if is_loopback(settings.bind):
        return
    engine = open_engine(settings.database)
    try:
        n = count_users(engine)
    finally:
        engine.dispose()
    if n == 0:
        raise TriggerfishError(
            f"refusing to listen on {settings.bind!r}: no user or worker tokens are configured, "
            "so other hosts could not use this supervisor and nothing would tell them apart. "
            "Start it on 127.0.0.1 (the default) and add tokens first, e.g. "
            "'triggerfish users add farm-workers --worker' for the workers and "
            "'triggerfish users add NAME --perm submit' for each user; then start it again "
            f"with --bind {settings.bind}. See docs/security.md.",
            field="bind",
        )


def serve(settings: ServerSettings) -> None:
    logfmt.configure(settings.log_level)
    make_data_dir(settings.data_dir)
    preflight(settings)
    app = create_app(settings)
    config = uvicorn.Config(
        Front(app),  # the fast path's routes past FastAPI's per-request telemetry
        host=settings.bind,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
        # one write per answer (head and body together); the fast path's routes answered by
        # the protocol itself, without an ASGI cycle
        http=FastLaneProtocol,
    )
    _Server(config).run()


class _Server(uvicorn.Server):
    """uvicorn's server, which also answers the open long polls (worker pulls, event
    followers) as soon as it is told to stop: graceful shutdown then waits for nothing."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        app: Any = self.config.app
        ctx = getattr(app.state, "ctx", None)
        hub = getattr(ctx, "hub", None)
        if hub is not None and hub.loop is not None and not hub.loop.is_closed():
            hub.loop.call_soon_threadsafe(hub.close)
