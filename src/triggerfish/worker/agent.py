"""The worker: register, keep one long poll open, run what it brings, report every end.

One asyncio loop and one keep-alive HTTP client. The long poll (``pull``) is always open and is
also the heartbeat; it lists the tokens this worker runs or has not had acknowledged, and the
lookahead tokens it holds queued (a supervisor that restarted keeps those holds for it). Each
attempt runs in a task: the command, then its output flushed, then its report queued (the
lookahead items queued behind it then run in the same task, one after the other). One
reporter sends the queued reports, several at once when several are waiting, and retries until
the supervisor acknowledges them. When the supervisor no longer knows the session (404/410) the
worker registers again and carries on; the supervisor, which is the authority, answers the old
tokens in the next pull with ``cancel``. Stopping cancels the running commands and exits 0.

Lookahead: with short items the supervisor also sends the next items of an instance ahead of
time (``Assignment.after``). The worker queues each one behind the attempt it follows and starts
it the moment that one ends, with no round trip in between; it then reports several ends in
one request (waiting at most ``report_window``, and not at all when an instance has nothing left
to run). The queued items of an attempt that runs longer than ``release_after`` are given back
(``release``) so that other hosts can take them; so are the queued items when the worker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from triggerfish.api.schemas import (
    AHEAD_MAX,
    Assignment,
    LogChunk,
    PullRequest,
    PullResponse,
    RegisterRequest,
    RegisterResponse,
    Report,
    ReportRequest,
    ReportResponse,
    SignOffRequest,
)
from triggerfish.errors import ValidationError
from triggerfish.worker import worklog
from triggerfish.worker.check import HealthCheck
from triggerfish.worker.errors import ProtocolError, Rejected, SessionLost, SupervisorUnreachable
from triggerfish.worker.guard import Guard, state_file
from triggerfish.worker.hostinfo import default_name, host_properties, memory_avail
from triggerfish.worker.jobtypes import discover
from triggerfish.worker.link import SupervisorLink
from triggerfish.worker.logsink import LogSink
from triggerfish.worker.process import Stream
from triggerfish.worker.retry import Backoff, Outage
from triggerfish.worker.runner import CANCELLED, Runner, failed

logger = logging.getLogger(__name__)

MAX_REPORT_BATCH = 500
RELEASE_CHECK = 0.25  # how often the worker looks for long attempts with queued lookahead
FAST_EMPTY_PULL = 0.005  # an empty answer this fast, several times running, is a busy loop
FAST_EMPTY_LIMIT = 3
SEEN_TOKENS = 100_000  # how many finished tokens a worker remembers
STOPPING = "worker stopping"
SIGN_OFF_TIMEOUT = 2.0  # a supervisor that does not answer a sign-off: the worker stops anyway
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REFUSED = 2


@dataclass
class WorkerOptions:
    """Everything a worker needs; ``labels`` go on top of the detected host properties."""

    url: str
    name: str = field(default_factory=default_name)
    slots: int = 1
    groups: list[str] = field(default_factory=list)
    cluster: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    grace: float = 5.0  # SIGTERM → SIGKILL of a cancelled command
    drain_timeout: float = 2.0  # wait for output pipes after a command ended
    log_interval: float = 0.3
    log_max_chars: int = 64 * 1024
    shutdown_timeout: float = 5.0  # deliver finished reports when stopping
    connect_timeout: float = 5.0
    lean_transport: bool = True  # False: httpx's default transport (see worker.transport)
    task_imports: list[str] = field(default_factory=list)  # imported by each task process
    ahead: int = 64  # lookahead items accepted per instance (0: none)
    report_window: float = 0.01  # seconds a report may wait to share its request with others
    release_after: float = 1.0  # queued lookahead items go back if the one before runs longer
    # where the worker records its running commands, so that a restart under the same name
    # ends what a crashed life left (None: not recorded)
    state_dir: Path | None = None
    # the worker's own health check (worker.check): no new work while it fails
    check: str | None = None
    check_interval: float = 60.0
    # directories of job types (``DIR/NAME/execute.py``; worker.jobtypes), and whether the
    # entry points of installed packages (``triggerfish.jobtypes``) are offered too
    jobtype_dirs: list[Path] = field(default_factory=list)
    installed_jobtypes: bool = True

    def registration(self, jobtypes: Sequence[str] = ()) -> RegisterRequest:
        """The register request; ValidationError (naming the option) if an option is bad."""
        for name in (
            "grace", "drain_timeout", "log_interval", "shutdown_timeout", "report_window",
            "release_after",
        ):  # fmt: skip
            if getattr(self, name) < 0:
                raise ValidationError(f"{name}: must not be negative", field=name)
        if not 0 <= self.ahead <= AHEAD_MAX:
            raise ValidationError(f"ahead: must be 0 to {AHEAD_MAX}", field="ahead")
        if self.check_interval <= 0:
            raise ValidationError("check_interval: must be positive", field="check_interval")
        if self.log_max_chars < 1:
            raise ValidationError("log_max_chars: must be at least 1", field="log_max_chars")
        try:
            return RegisterRequest(
                name=self.name,
                slots=self.slots,
                groups=list(self.groups),
                cluster=self.cluster,
                properties=host_properties(self.labels),
                memory_avail=memory_avail(),
                jobtypes=sorted(jobtypes),
            )
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "worker"
            raise ValidationError(f"{where}: {err['msg']}", field=where) from None


class Worker:
    """One host agent. Create it, ``await run()`` (once), and ``stop()`` from anywhere."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        jobtypes = discover(options.jobtype_dirs, installed=options.installed_jobtypes)
        self._request = options.registration(list(jobtypes))
        if jobtypes:
            logger.info(
                "offering the job types %s",
                ", ".join(f"{jt.name} ({jt.source})" for jt in jobtypes.values()),
                extra={"action": "worker_jobtypes", "jobtypes": sorted(jobtypes)},
            )
        self._link = SupervisorLink(
            options.url,
            token=options.token,
            connect_timeout=options.connect_timeout,
            lean_transport=options.lean_transport,
        )
        self._sink = LogSink(
            self._post_log, interval=options.log_interval, max_chars=options.log_max_chars
        )
        self._runner = Runner(
            self._sink.write,
            grace=options.grace,
            drain_timeout=options.drain_timeout,
            task_env=self._task_env(options),
            url=options.url,
            host=options.name,
            jobtypes=jobtypes,
            guard=Guard(
                state_file(options.state_dir, options.name, options.url)
                if options.state_dir is not None
                else None
            ),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_early = False
        self._force = False
        self._stopping = asyncio.Event()
        self._lost = asyncio.Event()
        self._registered = asyncio.Event()
        self._report_ready = asyncio.Event()
        self._report_now = asyncio.Event()  # a report that should not wait for the window
        self._session: RegisterResponse | None = None
        self._attempts: dict[str, asyncio.Task[None]] = {}
        self._unacked: dict[str, Report] = {}
        self._refused: dict[str, int] = {}
        self._cancel_early: set[str] = set()
        self._stopped_tokens: set[str] = set()
        # tokens that already ran here: never run one twice, whatever answer repeats it
        self._seen: dict[str, None] = {}
        # lookahead: assignments not started yet, and which one runs after which token
        self._queued: dict[str, Assignment] = {}
        self._next: dict[str, str] = {}
        self._began: dict[str, float] = {}  # when each running attempt started (loop clock)
        self._releases: list[str] = []  # queued tokens to give back
        self._outage = Outage()
        self._check: HealthCheck | None = None
        if options.check:
            self._check = HealthCheck(options.check, options.check_interval, self._check_changed)
        self._check_unsent = False  # its state changed since the last pull or report

    @staticmethod
    def _task_env(options: WorkerOptions) -> dict[str, str]:
        """The environment of task processes: tasks may add tasks (``TRIGGERFISH_URL``)."""
        env = {**os.environ, "TRIGGERFISH_URL": options.url}
        if options.task_imports:
            env["TRIGGERFISH_TASK_IMPORTS"] = ",".join(options.task_imports)
        return env

    def _check_state(self) -> str | None:
        """What the next request says of the health check (None: the worker has none)."""
        return self._check.state if self._check is not None else None

    async def _first_check(self, check: HealthCheck) -> None:
        """Run the check once before registering (a stop does not wait for it)."""
        first = asyncio.create_task(check.run_once())
        stop = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({first, stop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (first, stop):
            task.cancel()
        await asyncio.gather(first, stop, return_exceptions=True)
        self._check_unsent = False

    def _check_changed(self) -> None:
        """The check's state changed: tell the supervisor now (a report of its own)."""
        self._check_unsent = True
        self._report_now.set()
        self._report_ready.set()

    # ------------------------------------------------------------------ public

    @property
    def session(self) -> RegisterResponse | None:
        return self._session

    @property
    def running(self) -> list[str]:
        """The tokens the next pull will list: attempts alive, and reports not acknowledged."""
        tokens = list(self._attempts)
        tokens.extend(t for t in self._unacked if t not in self._attempts)
        return tokens

    @property
    def queued(self) -> list[str]:
        """The lookahead tokens the next pull will list as held: queued, not started, in the
        order they will run (each chain behind its running attempt)."""
        tokens: list[str] = []
        for token in self._attempts:
            nxt = self._next.get(token)
            while nxt is not None:
                tokens.append(nxt)
                nxt = self._next.get(nxt)
        if len(tokens) < len(self._queued):  # (none should be off a chain; listed all the same)
            on_chains = set(tokens)
            tokens.extend(t for t in self._queued if t not in on_chains)
        return tokens

    def stop(self, *, force: bool = False) -> None:
        """Ask the worker to stop (thread-safe); a second call, or ``force``, kills at once."""
        loop = self._loop
        if loop is None:
            self._stop_early = True
            self._force = self._force or force
            return
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            self._request_stop(force)
        else:
            with contextlib.suppress(RuntimeError):  # the loop has ended: nothing to stop
                loop.call_soon_threadsafe(self._request_stop, force)

    async def run(self) -> int:
        """Serve until stopped; 0 after a clean stop, 2 if the supervisor refused this worker."""
        self._loop = asyncio.get_running_loop()
        if self._stop_early:
            self._request_stop(self._force)
        code = EXIT_OK
        checking: asyncio.Task[None] | None = None
        try:
            await self._runner.start()  # the guardian of the commands, a warm task process
            if self._check is not None:  # once before taking work, then every interval
                await self._first_check(self._check)
                checking = asyncio.create_task(self._check.loop(), name="triggerfish-check")
            await self._main()
        except Rejected as exc:
            logger.error(
                "the supervisor refused this worker: %s",
                exc.message,
                extra={"action": "worker_refused", "status": exc.status},
            )
            code = EXIT_REFUSED
        finally:
            if checking is not None:
                checking.cancel()
            try:
                await self._shutdown()
            finally:
                await self._link.aclose()
        logger.info("worker stopped", extra={"action": "worker_stopped"})
        return code

    # ------------------------------------------------------------------ sessions

    async def _main(self) -> None:
        reregister = Backoff()
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            session = await self._register()
            if session is None:
                return
            began = loop.time()
            if not await self._serve(session):
                return
            if loop.time() - began > 10.0:
                reregister.reset()
            await self._pause(reregister.next_delay())

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up when the worker is asked to stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def _register(self) -> RegisterResponse | None:
        backoff = Backoff()
        while not self._stopping.is_set():
            self._request.check = self._check_state()
            try:
                session = await self._link.register(self._request)
            except (SupervisorUnreachable, ProtocolError) as exc:
                self._outage.failed("register", exc)
                await self._pause(backoff.next_delay())
                continue
            self._outage.ok()
            self._session = session
            self._registered.set()
            logger.info(
                "registered as %s with %d slot(s) at %s",
                session.host,
                self._request.slots,
                self._link.url,
                extra={
                    "action": "worker_registered",
                    "host": session.host,
                    "heartbeat": session.heartbeat,
                },
            )
            return session
        return None

    async def _serve(self, session: RegisterResponse) -> bool:
        """Pull and report until stopped (False) or the session is lost (True)."""
        self._lost.clear()
        if self._unacked:
            self._report_ready.set()
        loops = [
            asyncio.create_task(self._pull_loop(session), name="triggerfish-pull"),
            asyncio.create_task(self._report_loop(session), name="triggerfish-report"),
            asyncio.create_task(self._release_loop(), name="triggerfish-release"),
        ]
        waits = [asyncio.create_task(self._stopping.wait()), asyncio.create_task(self._lost.wait())]
        try:
            done, _ = await asyncio.wait([*loops, *waits], return_when=asyncio.FIRST_COMPLETED)
            if self._stopping.is_set():  # before its long poll ends: the host takes no more work
                await self._sign_off(session, final=False)
        finally:
            for task in (*loops, *waits):
                task.cancel()
            await asyncio.gather(*loops, *waits, return_exceptions=True)
        for task in loops:
            error = task.exception() if task in done and not task.cancelled() else None
            if error is not None:
                raise error
        return self._lost.is_set() and not self._stopping.is_set()

    def _lose(self, session: RegisterResponse, why: str) -> None:
        if self._session is session and self._registered.is_set():
            logger.warning(
                "the supervisor does not know this session any more (%s); registering again",
                why,
                extra={"action": "session_lost"},
            )
            self._registered.clear()
            self._lost.set()
            # lookahead items not started were held for that session: the supervisor has
            # given them back, and may hand them to another host
            self._queued.clear()
            self._next.clear()

    # ------------------------------------------------------------------ pull

    async def _pull_loop(self, session: RegisterResponse) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff()
        idle = Backoff()
        fast_empty = 0
        wait = min(60.0, max(0.5, session.heartbeat))
        while not self._stopping.is_set():  # (the stop cancels this task too)
            req = PullRequest(
                session=session.session,
                running=self.running,
                queued=self.queued,
                wait=wait,
                ahead=self.options.ahead,
                memory_avail=memory_avail(),
                check=self._check_state(),
            )
            self._check_unsent = False
            began = loop.time()
            try:
                resp = await self._link.pull(session.host, req)
            except SupervisorUnreachable as exc:
                self._outage.failed("pull", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            except ProtocolError as exc:
                logger.error("%s", exc.message, extra={"action": "pull_unreadable"})
                await asyncio.sleep(backoff.next_delay())
                continue
            except SessionLost as exc:
                self._lose(session, exc.message)
                return
            self._outage.ok()
            backoff.reset()
            self._apply(resp)
            if (
                resp.assignments
                or resp.cancel
                or resp.suspend
                or loop.time() - began > FAST_EMPTY_PULL
            ):
                fast_empty = 0
                idle.reset()
            else:
                fast_empty += 1
                if fast_empty >= FAST_EMPTY_LIMIT:
                    await asyncio.sleep(idle.next_delay())

    def _apply(self, resp: PullResponse | ReportResponse) -> None:
        self._cancel(resp.cancel)
        for token in resp.suspend:
            self._runner.suspend(token, True)
        for token in resp.resume:
            self._runner.suspend(token, False)
        self._start(resp.assignments)

    def _cancel(self, tokens: list[str]) -> None:
        for token in tokens:
            if token in self._queued:
                self._unqueue(token)
            elif not self._runner.cancel(token) and token in self._attempts:
                self._cancel_early.add(token)  # its task has not started the command yet

    def _start(self, assignments: list[Assignment]) -> None:
        for a in assignments:
            if a.token in self._seen:
                continue
            self._seen[a.token] = None
            worklog.remember(a, self.options.name)
            if len(self._seen) > SEEN_TOKENS:
                del self._seen[next(iter(self._seen))]
            if a.after is not None and (a.after in self._attempts or a.after in self._queued):
                last = a.after
                while last in self._next:  # (a chain re-linked by a cancel)
                    last = self._next[last]
                self._queued[a.token] = a  # runs when the one before it ends
                self._next[last] = a.token
            else:
                self._launch(a)

    def _launch(self, a: Assignment) -> None:
        self._began[a.token] = asyncio.get_running_loop().time()
        self._attempts[a.token] = asyncio.create_task(self._chain(a), name=f"attempt-{a.token}")

    def _unqueue(self, token: str) -> None:
        """A queued lookahead item is withdrawn: the one after it moves up in its place."""
        del self._queued[token]
        after = self._next.pop(token, None)
        # the one it runs after now (not always ``after`` of its assignment: a chain is
        # re-linked when one of its items is withdrawn)
        before = next((t for t, nxt in self._next.items() if nxt == token), None)
        if before is not None:
            if after is None:
                del self._next[before]
            else:
                self._next[before] = after
        elif after is not None:  # the one before it has ended: the next one starts now
            self._launch(self._queued.pop(after))

    def _go_on(self, token: str, watched: bool = False) -> Assignment | None:
        """``token`` has ended: the item queued behind it (for the caller to start), if any.

        Its report waits for others (``report_window``) unless the instance has nothing left
        to run or a callback waits on this end (``watched``); when nothing is queued behind
        the next one, the report goes at once, to ask for more work."""
        if watched:
            self._report_now.set()
        after = self._next.pop(token, None)
        if after is None or self._stopping.is_set():
            self._report_now.set()  # an instance with nothing left to run: no waiting
            return None
        if after not in self._next:
            self._report_now.set()  # the last one queued: ask for more now
        return self._queued.pop(after)

    def _release_chain(self, token: str) -> None:
        after = self._next.pop(token, None)
        while after is not None:
            self._queued.pop(after, None)
            self._releases.append(after)
            after = self._next.pop(after, None)

    async def _release_loop(self) -> None:
        """Give back the queued items of attempts that run long (other hosts may take them)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(RELEASE_CHECK)
            limit = loop.time() - self.options.release_after
            long = [t for t in self._next if t in self._attempts and self._began[t] < limit]
            for token in long:
                self._release_chain(token)
            if long:
                logger.debug(
                    "gave back %d queued item(s)",
                    len(self._releases),
                    extra={"action": "lookahead_released"},
                )
                self._report_now.set()
                self._report_ready.set()

    # ------------------------------------------------------------------ attempts

    async def _chain(self, a: Assignment) -> None:
        """Run ``a``, then the lookahead items queued behind it one after the other, in this
        one task (a task per item costs more than the shortest commands)."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        after = await self._attempt(a)
        while after is not None:
            self._began[after.token] = loop.time()
            self._attempts[after.token] = task
            after = await self._attempt(after)

    async def _attempt(self, a: Assignment) -> Assignment | None:
        """Run one attempt; returns the item queued behind it, to run next."""
        try:
            await self._run_attempt(a)
        except BaseException:
            after = self._ended(a)
            if after is not None:
                self._launch(after)  # (this task is being cancelled)
            raise
        return self._ended(a)

    def _ended(self, a: Assignment) -> Assignment | None:
        token = a.token
        self._attempts.pop(token, None)
        self._began.pop(token, None)
        self._cancel_early.discard(token)
        return self._go_on(token, a.watched)

    async def _run_attempt(self, a: Assignment) -> None:
        token = a.token
        if self._stopping.is_set():
            return
        if token in self._cancel_early:
            report = failed(token, f"{CANCELLED} before the command started")
        else:
            try:
                report = await self._runner.run(a)
                report.seconds = asyncio.get_running_loop().time() - self._began[token]
            except Exception as exc:
                logger.exception(
                    "attempt %s failed inside the worker",
                    token,
                    extra={"action": "attempt_error", **worklog.fields(token)},
                )
                report = failed(token, f"worker error: {exc}")
        if self._sink.pending(token):
            await self._sink.flush(token)
        if token in self._stopped_tokens:
            return  # killed because the worker stops: not a failure of the command
        self._unacked[token] = report
        self._report_ready.set()

    async def _post_log(self, token: str, stream: Stream, text: str) -> None:
        backoff = Backoff()
        refused = False
        while True:
            await self._registered.wait()
            session = self._session
            assert session is not None
            chunk = LogChunk(session=session.session, token=token, stream=stream, data=text)
            try:
                await self._link.log(session.host, chunk)
            except SupervisorUnreachable as exc:
                self._outage.failed("log", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            except SessionLost as exc:
                self._lose(session, exc.message)
                if refused:
                    return
                refused = True
                continue
            except (Rejected, ProtocolError) as exc:
                logger.warning(
                    "output of %s refused (%s); dropped",
                    token,
                    exc.message,
                    extra={"action": "log_refused", **worklog.fields(token)},
                )
                return
            self._outage.ok()
            return

    # ------------------------------------------------------------------ reports

    def _batch(self) -> list[Report]:
        return list(itertools.islice(self._unacked.values(), MAX_REPORT_BATCH))

    async def _report_loop(self, session: RegisterResponse) -> None:
        backoff = Backoff()
        window = self.options.report_window
        while not self._stopping.is_set():
            await self._report_ready.wait()
            if window > 0 and not self._report_now.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(window):
                        await self._report_now.wait()
            self._report_ready.clear()
            self._report_now.clear()
            batch = self._batch()
            if not batch and not self._releases and not self._check_unsent:
                continue
            if len(self._unacked) > len(batch):
                self._report_ready.set()
                self._report_now.set()
            try:
                await self._send_reports(session, batch)
            except SupervisorUnreachable as exc:
                self._outage.failed("report", exc)
                self._report_ready.set()
                await asyncio.sleep(backoff.next_delay())
                continue
            except SessionLost as exc:
                self._refuse(batch)
                self._lose(session, exc.message)
                return
            backoff.reset()

    async def _send_reports(self, session: RegisterResponse, batch: list[Report]) -> None:
        """Send one batch (and the released lookahead tokens); acknowledged (or refused for
        good) reports leave the queue."""
        releases = list(self._releases)
        req = ReportRequest(
            session=session.session, reports=batch, release=releases, ahead=self.options.ahead,
            check=self._check_state(),
        )  # fmt: skip
        self._check_unsent = False
        try:
            resp = await self._link.report(session.host, req)
        except Rejected as exc:
            if exc.is_auth:
                raise
            if exc.status == 413 and _shrink(batch):
                self._report_ready.set()  # sent again, smaller, at once
                self._report_now.set()
                return
            logger.error(
                "the supervisor refused %d report(s) (%s); they are dropped",
                len(batch),
                exc.message,
                extra={"action": "report_refused"},
            )
        else:
            self._outage.ok()
            self._apply(resp)
            self._runner.reported(batch, resp)  # (a job type's instance may have ended)
            if resp.ignored:
                logger.info(
                    "the supervisor ignored %d stale report(s)",
                    len(resp.ignored),
                    extra={"action": "report_ignored"},
                )
        for r in batch:
            if self._unacked.get(r.token) is r:
                del self._unacked[r.token]
                self._refused.pop(r.token, None)
        del self._releases[: len(releases)]

    def _refuse(self, batch: list[Report]) -> None:
        """Reports refused with 404/410 by two sessions belong to no session: drop them."""
        for r in batch:
            n = self._refused.get(r.token, 0) + 1
            self._refused[r.token] = n
            if n >= 2:
                logger.warning(
                    "report of %s refused by two sessions; dropped",
                    r.token,
                    extra={"action": "report_dropped", **worklog.fields(r.token)},
                )
                self._unacked.pop(r.token, None)
                self._refused.pop(r.token, None)

    # ------------------------------------------------------------------ stopping

    def _request_stop(self, force: bool) -> None:
        if force or self._stopping.is_set():
            if not self._force:
                logger.warning(
                    "stopping now: killing the running commands", extra={"action": "worker_kill"}
                )
            self._force = True
            self._runner.kill_all()
            for task in self._attempts.values():
                task.cancel()
        else:
            logger.info("stopping (ask again to stop at once)", extra={"action": "worker_stop"})
        self._stopping.set()

    async def _shutdown(self) -> None:
        self._stopping.set()
        for token in list(self._queued):  # never started: the supervisor gives them to others
            self._releases.append(token)
        self._queued.clear()
        self._next.clear()
        tokens = self._runner.cancel_all(STOPPING)
        self._stopped_tokens.update(tokens)
        if tokens:
            logger.info(
                "stopping %d running command(s)",
                len(tokens),
                extra={"action": "worker_stop_commands"},
            )
        if self._force:
            self._runner.kill_all()
        await self._end_attempts()
        await self._runner.aclose()
        session = self._session
        pending = self._unacked or self._releases
        if pending and session is not None and self._registered.is_set() and not self._force:
            try:
                async with asyncio.timeout(self.options.shutdown_timeout):
                    await self._deliver(session)
            except TimeoutError:
                pass
            except (Rejected, SessionLost) as exc:
                logger.warning(
                    "final reports refused: %s", exc.message, extra={"action": "report_refused"}
                )
        if session is not None:  # what it still held goes back to pending now
            await self._sign_off(session, final=True)
        if self._unacked:
            logger.warning(
                "%d report(s) not delivered before stopping",
                len(self._unacked),
                extra={"action": "reports_undelivered"},
            )
        await self._sink.aclose()

    async def _sign_off(self, session: RegisterResponse, *, final: bool) -> None:
        """Tell the supervisor this worker stops (``final``: it has stopped)."""
        if self._session is not session or not self._registered.is_set():
            return
        req = SignOffRequest(session=session.session, final=final)
        try:
            async with asyncio.timeout(SIGN_OFF_TIMEOUT):
                await self._link.signoff(session.host, req)
        except (TimeoutError, SupervisorUnreachable, SessionLost, Rejected, ProtocolError) as exc:
            logger.warning(
                "could not sign off: %s",
                getattr(exc, "message", None) or type(exc).__name__,
                extra={"action": "signoff_failed", "host": session.host},
            )

    async def _end_attempts(self) -> None:
        tasks = list(self._attempts.values())
        if not tasks:
            return
        limit = self.options.grace + self.options.drain_timeout + 1.0
        _, pending = await asyncio.wait(tasks, timeout=limit)
        if pending:
            self._runner.kill_all()
            _, pending = await asyncio.wait(pending, timeout=self.options.drain_timeout + 1.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, session: RegisterResponse) -> None:
        backoff = Backoff()
        while (self._unacked or self._releases) and not self._force:
            try:
                await self._send_reports(session, self._batch())
            except SupervisorUnreachable:
                await asyncio.sleep(backoff.next_delay())


def run_worker(
    url: str,
    *,
    name: str | None = None,
    slots: int = 1,
    groups: Sequence[str] = (),
    cluster: str | None = None,
    properties: dict[str, Any] | None = None,
    token: str | None = None,
    grace: float = 5.0,
    task_imports: Sequence[str] = (),
    ahead: int = 64,
    state_dir: Path | None = None,
    check: str | None = None,
    check_interval: float = 60.0,
    jobtype_dirs: Sequence[Path] = (),
) -> int:
    """Run a worker until SIGINT/SIGTERM (a second one kills at once); returns the exit code.

    ``properties`` are free labels added to the detected host properties. Raises
    :class:`~triggerfish.errors.ValidationError` for bad arguments before anything starts.
    """
    options = WorkerOptions(
        url=url,
        name=name or default_name(),
        slots=slots,
        groups=list(groups),
        cluster=cluster,
        labels=dict(properties or {}),
        token=token,
        grace=grace,
        task_imports=list(task_imports),
        ahead=ahead,
        state_dir=state_dir,
        check=check,
        check_interval=check_interval,
        jobtype_dirs=list(jobtype_dirs),
    )
    worker = Worker(options)
    _quiet_request_logs()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(_run_with_signals(worker))
    except Exception:
        logger.exception("the worker failed", extra={"action": "worker_crash"})
        return EXIT_ERROR


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (it comes with uvicorn[standard]): a cheaper loop per item."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _quiet_request_logs() -> None:
    """httpx logs each request at INFO: several lines per frame. Keep them for DEBUG only."""
    http = logging.getLogger("httpx")
    if http.level == logging.NOTSET and logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        http.setLevel(logging.WARNING)


async def _run_with_signals(worker: Worker) -> int:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, worker.stop)
        except (ValueError, RuntimeError, NotImplementedError):
            continue  # not the main thread, or not a POSIX loop
        installed.append(sig)
    try:
        return await worker.run()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


# a report's result or error above this size is replaced when the supervisor refuses a batch
# as too large (its --max-body): the item then fails with a reason instead of staying running
BIG_REPORT = 256 * 1024


def _shrink(batch: list[Report]) -> bool:
    """Replace the result and error of each oversized report in ``batch`` (a failed item
    saying why); False when none was oversized (the refusal is not theirs)."""
    shrunk = False
    for r in batch:
        size = len(r.model_dump_json())
        if size <= BIG_REPORT:
            continue
        logger.warning(
            "the report of %s is too large for the supervisor (%d bytes); sent without its result",
            r.token,
            size,
            extra={"action": "report_too_large", **worklog.fields(r.token)},
        )
        r.status = "failed"
        r.result = {"result_too_large": size}
        r.error = f"the result was too large to report ({size} bytes)"
        shrunk = True
    return shrunk
