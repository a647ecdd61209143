"""The FastAPI application: lifespan (store, engine), error mapping, routers."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp

from triggerfish import __version__
from triggerfish.auth.tokens import ensure_local_token
from triggerfish.callbacks.mail import SmtpSettings
from triggerfish.callbacks.osuser import resolve
from triggerfish.callbacks.pool import PoolSettings, RunnerPool
from triggerfish.callbacks.universal import UniversalCallbacks
from triggerfish.engine import callbacks, resources
from triggerfish.engine.loop import Engine
from triggerfish.engine.retention import PURGE_JOBS, purge
from triggerfish.errors import StoreError, TriggerfishError
from triggerfish.meters import Meters
from triggerfish.model.invalid import describe
from triggerfish.model.status import TERMINAL
from triggerfish.server import (
    apidocs,
    metrics,
    oldintake,
    routes_grid,
    routes_hosts,
    routes_jobs,
    routes_resources,
    routes_stream,
    routes_tasks,
    routes_users,
    routes_workers,
)
from triggerfish.server.auth import Authority, TokenAuth
from triggerfish.server.badinput import check_request
from triggerfish.server.bodylimit import BodyLimit
from triggerfish.server.context import Ctx
from triggerfish.server.failures import public_error
from triggerfish.server.fastpath import FastPath
from triggerfish.server.gcpolicy import GcPolicy
from triggerfish.server.hub import Hub
from triggerfish.server.logs import LogStore
from triggerfish.server.metrics import FarmCollector
from triggerfish.server.openapi import build as build_openapi
from triggerfish.server.timing import RequestTimer
from triggerfish.settings import ServerSettings, make_data_dir
from triggerfish.store import reads, users
from triggerfish.store.db import ping
from triggerfish.store.lock import ROLE
from triggerfish.store.store import Store
from triggerfish.web import add_web

logger = logging.getLogger(__name__)
READY_WAIT = 5.0  # seconds the readiness probe waits for the store


class Probe(BaseModel):
    """The answer of the probes (``/health``, ``/ready``): nothing secret."""

    status: str  # "ok" (health), "ready" (ready)
    version: str
    role: str  # "active": it holds its database (a standby, later, would say so)
    # it accepts pickles (--allow-pickle): task params, ``triggerfish.futures`` calls
    allow_pickle: bool = False


# what a route may raise besides TriggerfishError: answered by ``public_error`` (a handler for
# ``Exception`` itself is starlette's last resort, which also re-raises to the server's log)
FAILURES: tuple[type[Exception], ...] = (
    sa.exc.SQLAlchemyError, sqlite3.Error, OSError, OverflowError, Exception,
)  # fmt: skip


def _validation_message(exc: RequestValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    if err.get("type") == "json_invalid":
        ctx = err.get("ctx") or {}
        return "body", f"body: malformed JSON ({ctx.get('error', err.get('msg'))})"
    # the request part (body, query, path) is not a field's name
    loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path")]
    return describe({**err, "loc": loc})


async def _failure(_request: Request, exc: Exception) -> JSONResponse:
    """What fails below a route, in the error model (a store's error without its SQL, a full
    disk as 503, a bug as a 500 that says no more)."""
    err = public_error(exc)
    return JSONResponse({"error": err.to_dict()}, status_code=err.http_status)


def _answer_failures(app: FastAPI) -> None:
    for failure in FAILURES:
        app.add_exception_handler(failure, _failure)


def _log_failure(fut: Future[None]) -> None:
    if fut.exception() is not None:
        logger.error("a callback run's end could not be recorded: %s", fut.exception(),
                     extra={"action": "callback.finish"})  # fmt: skip


def _lookup(store: Store) -> Any:
    """What a mail run reads: the job (and item) as the API shows them."""

    def lookup(job_id: int, work: str | None) -> tuple[Any, Any]:
        from triggerfish.server import convert

        row = reads.get_job(store.engine, job_id, agenda=False)
        job = None if row is None else convert.job_detail(row).model_dump()
        w = None if work is None else reads.get_work(store.engine, job_id, work)
        return job, None if w is None else convert.work_info(w).model_dump()

    return lookup


async def _sweep(c: Ctx, retention: float) -> None:
    """Retention: every tenth of it (at most hourly), delete what is older than it."""
    interval = min(3600.0, max(1.0, retention / 10))
    while True:
        try:
            cutoff = time.time() - retention
            while True:
                gone = await c.engine.acall(purge, cutoff)
                c.hub.forget()  # events of no job may have gone too
                if gone:
                    await asyncio.to_thread(c.logs.remove_jobs, gone)
                    logger.info("retention: %d finished jobs deleted", len(gone),
                                extra={"action": "retention.purge", "jobs": len(gone)})  # fmt: skip
                if len(gone) < PURGE_JOBS:
                    break
        except TriggerfishError:
            logger.exception("retention sweep failed", extra={"action": "retention.error"})
        await asyncio.sleep(interval)


def _job_owner(state: Any) -> Callable[[int], str | None]:
    """Job id -> its owner while the job is not finished (what a job token is good for).

    Called on the event loop: a single dict lookup and attribute reads of the engine's state,
    which the GIL keeps whole while the engine thread changes it."""

    def owner(job_id: int) -> str | None:
        job = state.jobs.get(job_id)
        return None if job is None or job.status in TERMINAL else str(job.user)

    return owner


def _add_probes(app: FastAPI) -> None:
    """The probes of load balancers and orchestrators (no token: ``auth.PUBLIC_PATHS``)."""

    @app.get("/api/v1/health", tags=["health"], openapi_extra={"security": []})
    async def health(request: Request) -> Probe:
        """Liveness, without a token: this supervisor answers (it holds its database); and
        whether it accepts pickles (``--allow-pickle``)."""
        ctx: Ctx | None = getattr(request.app.state, "ctx", None)
        pickles = ctx is not None and ctx.settings.allow_pickle
        return Probe(status="ok", version=__version__, role=ROLE, allow_pickle=pickles)

    # the store's check in flight: one at a time (a store that hangs holds one thread, not
    # one per probe); probes meanwhile wait for it, up to READY_WAIT
    checking: list[asyncio.Future[str | None]] = []

    @app.get("/api/v1/ready", tags=["health"], openapi_extra={"security": []},
             responses={503: {"description": "the store does not answer"}})  # fmt: skip
    async def ready(request: Request) -> Probe:
        """Readiness, without a token: 200 while the store answers a read, else 503."""
        ctx: Ctx = request.app.state.ctx
        if not checking or checking[0].done():
            checking[:] = [asyncio.ensure_future(asyncio.to_thread(ping, ctx.store.engine))]
        try:
            async with asyncio.timeout(READY_WAIT):
                why = await asyncio.shield(checking[0])
        except TimeoutError:
            why = f"the database did not answer within {READY_WAIT:g} s"
        if why is not None:
            raise StoreError(f"not ready: {why}")
        pickles = ctx.settings.allow_pickle
        return Probe(status="ready", version=__version__, role=ROLE, allow_pickle=pickles)


def _keeping_startup_error(
    running: Callable[[FastAPI], AbstractAsyncContextManager[None]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The supervisor's life (``running``); a start that fails for a reason (not a bug) leaves
    it in ``app.state.startup_error``, for a line instead of a traceback (server.main)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(running(app))
            except (TriggerfishError, OSError) as exc:
                app.state.startup_error = exc
                raise
            yield

    return lifespan


async def _start_engine(engine: Engine, settings: ServerSettings) -> None:
    """Start the engine; tasks an older triggerfish left in its intake journal are its first
    batch (``server.oldintake``)."""
    leftover = await asyncio.to_thread(
        oldintake.find, settings.data_dir, settings.database, engine.store
    )
    first = oldintake.commands(leftover) if leftover is not None else []
    outcomes = await asyncio.to_thread(engine.start, *first)
    if leftover is None:
        return
    try:
        await asyncio.to_thread(oldintake.finish, leftover, outcomes)
    except BaseException:
        await asyncio.to_thread(engine.stop)
        raise


def create_app(settings: ServerSettings) -> FastAPI:
    meters = Meters()  # this app's own registry (GET /metrics)

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        make_data_dir(settings.data_dir)
        store = await asyncio.to_thread(Store, settings.database)
        auth = Authority(ensure_local_token(settings.data_dir))
        auth.load(await asyncio.to_thread(users.load_users, store.engine))
        engine = Engine(store, host_timeout=settings.host_timeout, meters=meters)
        engine.state.preempt = settings.preempt
        farm = FarmCollector(engine)
        meters.registry.register(farm)
        hub = Hub()
        hub.bind(asyncio.get_running_loop())
        engine.listen_on(asyncio.get_running_loop(), hub.wake)
        pool = RunnerPool(
            PoolSettings(
                url=settings.url,
                timeout=settings.callback_timeout,
                memory_mb=settings.callback_memory_mb,
                workers=settings.callback_workers,
                user=resolve(settings.callback_user) if settings.callback_user else None,
                smtp=SmtpSettings(
                    host=settings.smtp_host,
                    port=settings.smtp_port,
                    sender=settings.smtp_from,
                    tls=settings.smtp_tls,
                    user=settings.smtp_user,
                    password=settings.smtp_password,
                ),
            ),
            lambda *report: engine.call(callbacks.finish_run, *report).add_done_callback(
                _log_failure
            ),
            _lookup(store),
            auth,
            meters.callback_ran,
        )
        engine.listen(pool.launch)
        universal = UniversalCallbacks(settings.universal_dirs)
        await asyncio.to_thread(universal.start)
        engine.state.qcb_actions = universal.qcb_actions
        engine.state.universal_specs = universal.cached_specs
        engine.state.job_keys = auth.job_keys
        auth.job_owner = _job_owner(engine.state)
        await _start_engine(engine, settings)
        if settings.resources:  # (--resource: the totals this supervisor starts with)
            await engine.acall(resources.define, settings.resources, "supervisor")
        gc_policy = GcPolicy(settings.gc_freeze_every, settings.gc_full_every)
        gc_policy.start()
        hub.start_at(engine.state.event_seq)
        for row in await asyncio.to_thread(store.unfinished_runs):  # interrupted by a crash
            pool.submit(callbacks.relaunch_spec(row))
        app.state.ctx = Ctx(
            settings,
            store,
            engine,
            hub,
            LogStore(settings.data_dir / "logs"),
            universal,
            auth,
            meters,
        )
        logger.info(
            "supervisor ready", extra={"action": "supervisor.ready", "db": store.url.split("@")[-1]}
        )
        sweeper = None
        if settings.retention > 0:
            sweeper = asyncio.create_task(_sweep(app.state.ctx, settings.retention))
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
            gc_policy.stop()
            universal.stop()
            pool.close()
            await asyncio.to_thread(engine.stop)
            store.close()
            meters.registry.unregister(farm)

    app = FastAPI(
        title="triggerfish",
        version=__version__,
        lifespan=_keeping_startup_error(running),
        dependencies=[Depends(check_request)],  # text a store cannot hold: refused, 422
        description="Job supervisor for render farms and background work.",
        docs_url=None,  # /docs and /redoc: apidocs, with their files served from here
        redoc_url=None,
    )

    @app.exception_handler(TriggerfishError)
    async def _tf_error(_request: Request, exc: TriggerfishError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)

    _answer_failures(app)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        field, message = _validation_message(exc)
        return JSONResponse(
            {"error": {"code": "invalid", "message": message, "field": field}}, status_code=422
        )

    _add_probes(app)
    apidocs.add_api_docs(app)

    # The body limit, the token check, then the fast path, outermost: ahead of FastAPI's own
    # middlewares (server errors, exception telemetry), which cost more per request than the
    # fast path itself. What they do for the other routes, they still do. Around all of them,
    # the metrics' timer of every answer.
    fastapi_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        inner = BodyLimit(TokenAuth(FastPath(fastapi_stack())), settings.max_body)
        return RequestTimer(inner, meters, app)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    app.include_router(routes_jobs.router)
    app.include_router(routes_grid.router)
    app.include_router(routes_users.router)
    app.include_router(routes_hosts.router)
    app.include_router(routes_resources.router)
    app.include_router(routes_workers.router)
    app.include_router(routes_tasks.router)
    app.include_router(routes_stream.router)
    add_web(app)
    app.include_router(metrics.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
