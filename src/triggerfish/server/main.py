"""``triggerfish supervisor``: serve the API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import errno
import logging
import os
import socket
from types import FrameType
from typing import Any

import sqlalchemy as sa
import uvicorn

from triggerfish import logfmt
from triggerfish.auth.tokens import is_loopback
from triggerfish.callbacks.osuser import resolve
from triggerfish.errors import StoreError, TriggerfishError
from triggerfish.server.app import create_app
from triggerfish.server.fastpath import Front
from triggerfish.settings import ServerSettings, make_data_dir
from triggerfish.store.db import one_line, open_engine
from triggerfish.store.lock import Holder, ServeLock, claim
from triggerfish.store.users import count_users

logger = logging.getLogger(__name__)


def preflight(settings: ServerSettings, engine: sa.Engine) -> None:
    """Refuse to start what would be unsafe: another address than loopback while no user or
    worker token exists (only the local admin token would guard it)."""
    if is_loopback(settings.bind) or count_users(engine) > 0:
        return
    raise TriggerfishError(
        f"refusing to listen on {settings.bind!r}: no user or worker tokens are configured, "
        "so other hosts could not use this supervisor and nothing would tell them apart. "
        "Start it on 127.0.0.1 (the default) and add tokens first, e.g. "
        "'triggerfish users add farm-workers --worker' for the workers and "
        "'triggerfish users add NAME --perm submit' for each user; then start it again "
        f"with --bind {settings.bind}. See docs/security.md.",
        field="bind",
    )


def public_url(settings: ServerSettings) -> str:
    """Where this supervisor answers, as other hosts would call it (for a second supervisor's
    message): the host's name when it listens on every address."""
    if settings.bind in ("0.0.0.0", "::", ""):
        return f"http://{socket.gethostname()}:{settings.port}"
    return settings.url


def listen_socket(bind: str, port: int) -> socket.socket:
    """The listening address, bound now (so that a port in use stops the start before the
    engine loads); uvicorn listens on it once the app has started."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
    except OSError as exc:
        sock.close()
        taken = exc.errno == errno.EADDRINUSE
        why = "another program listens there" if taken else exc.strerror or str(exc)
        hint = ": choose another --port (TRIGGERFISH_PORT)" if taken else ""
        raise TriggerfishError(
            f"cannot listen on {bind} port {port}: {why}{hint}", field="port"
        ) from None
    sock.set_inheritable(False)
    return sock


def prepare(settings: ServerSettings) -> tuple[ServeLock, socket.socket]:
    """Everything before the app starts, in an order that changes nothing until this
    supervisor knows it may serve: the data dir, the database's lock (or the line naming
    the supervisor that holds it), the port, then the schema's migrations."""
    make_data_dir(settings.data_dir)
    if settings.callback_user:
        resolve(settings.callback_user)
    lock = claim(settings.database, Holder.me(public_url(settings)))
    try:
        sock = listen_socket(settings.bind, settings.port)
        try:
            engine = open_engine(settings.database)
            try:
                lock.record(engine)
                preflight(settings, engine)
            except sa.exc.SQLAlchemyError as exc:
                raise StoreError(f"database error: {one_line(exc)}") from exc
            finally:
                engine.dispose()
        except BaseException:
            sock.close()
            raise
    except BaseException:
        lock.release()
        raise
    return lock, sock


def _lock_lost(why: str) -> None:
    """The database's lock is gone (its connection was lost): another supervisor may hold it
    by now, so this one stops at once, writing nothing more (as a crash would)."""
    logger.critical(
        "lost the database lock (%s): stopping now, as another supervisor may serve the "
        "database; start this one again once the database is back", why,
        extra={"action": "supervisor.lock_lost"},
    )  # fmt: skip
    logging.shutdown()
    os._exit(1)


def serve(settings: ServerSettings) -> None:
    logfmt.configure(settings.log_level, fmt=settings.log_format)
    try:
        lock, sock = prepare(settings)
    except TriggerfishError:  # one line from the CLI; the whole story at debug level
        logger.debug("start-up failed", exc_info=True)
        raise
    try:
        lock.watch(_lock_lost)
        app = create_app(settings)
        config = uvicorn.Config(
            Front(app),  # the fast path's routes past FastAPI's per-request telemetry
            host=settings.bind,
            port=settings.port,
            log_level=settings.log_level,
            # uvicorn's own lines (uvicorn.error) go to our handler, in our format: no
            # handlers of its own (uvicorn.access stays off: access_log=False)
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        quiet = _StartupTrace(app, settings.log_level == "debug")
        logging.getLogger("uvicorn.error").addFilter(quiet)
        try:
            _Server(config).run(sockets=[sock])
        except SystemExit:  # uvicorn's answer to a failed start (the app's lifespan)
            quiet.reraise()
            raise
    finally:
        sock.close()
        lock.release()


class _StartupTrace(logging.Filter):
    """The traceback uvicorn logs when the app's start fails for a reason (a TriggerfishError
    or an OSError, in ``app.state.startup_error``): left out but at debug level, the reason
    raised instead as one line."""

    def __init__(self, app: Any, debug: bool) -> None:
        super().__init__()
        self.app = app
        self.debug = debug

    def error(self) -> BaseException | None:
        state = getattr(self.app, "state", None)
        return getattr(state, "startup_error", None)

    def filter(self, record: logging.LogRecord) -> bool:
        trace = str(record.msg).startswith("Traceback")
        return self.debug or not trace or self.error() is None

    def reraise(self) -> None:
        exc = self.error()
        if isinstance(exc, TriggerfishError):
            raise exc
        if isinstance(exc, OSError):
            where = f" ({exc.filename})" if exc.filename else ""
            raise TriggerfishError(f"cannot start: {exc.strerror or exc}{where}") from exc


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

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:  # (uvicorn says where only for addresses it binds)
            for sock in sockets:
                host, port = sock.getsockname()[:2]
                logging.getLogger("uvicorn.error").info(
                    "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", host, port
                )
