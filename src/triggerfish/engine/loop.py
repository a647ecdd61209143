"""The single-writer command loop with group commit.

Commands from any thread are queued; the engine thread takes every command waiting, applies
them in order to its in-memory state, and writes what they changed in one transaction. Only after
the commit are the callers answered and the listeners (long polls) woken: nothing is
acknowledged that is not durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from triggerfish.engine import callbacks, parking, preempt, timers, workers
from triggerfish.engine import schedules as _schedules  # noqa: F401 - its timer handlers
from triggerfish.engine.state import State
from triggerfish.errors import StoreError, StoreRefused, TriggerfishError
from triggerfish.meters import Meters
from triggerfish.store.db import store_failure
from triggerfish.store.store import Store

logger = logging.getLogger(__name__)
T = TypeVar("T")
# a command: its function, its arguments, and where its outcome goes
Item = tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]
MAX_BATCH = 2000
HOST_CHECK_EVERY = 0.5
HOST_FLUSH_EVERY = 10.0
RELOAD_RETRY = 0.5  # seconds between tries to load the state again while the store cannot


@dataclass
class Wakeup:
    """What a commit made possible, for the server to wake long polls (event followers) and
    start callback runs. (Workers' pulls wait in the engine itself: ``engine.parking``.)"""

    event_seq: int = 0
    job_events: bool = False  # events of type "job" were written
    launch: list[dict[str, Any]] = field(default_factory=list)  # callback runs to start
    events: list[dict[str, Any]] = field(default_factory=list)  # the events it wrote, in order


class AsyncReply:
    """The answer to a command awaited on an asyncio loop.

    The engine thread settles many of these per batch; ``Engine._send_replies`` hands them to
    each loop in one ``call_soon_threadsafe`` instead of one thread hop per command.
    """

    __slots__ = ("_done", "_outbox", "exc", "fut", "loop", "then", "value")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        outbox: list[AsyncReply],
        then: Callable[[Any, BaseException | None], None] | None = None,
    ) -> None:
        self.loop = loop
        # either an asyncio future to await, or a function called on the loop with the answer
        self.then = then
        self.fut: asyncio.Future[Any] | None = loop.create_future() if then is None else None
        self._outbox = outbox
        self._done = False
        self.value: Any = None
        self.exc: BaseException | None = None

    def done(self) -> bool:
        return self._done

    def set_result(self, value: Any) -> None:
        self.value, self._done = value, True
        self._outbox.append(self)

    def set_exception(self, exc: BaseException) -> None:
        self.exc, self._done = exc, True
        self._outbox.append(self)

    def settle(self) -> None:
        """On the loop: complete the asyncio future (unless its caller went away), or call
        ``then``."""
        if self.fut is None:
            assert self.then is not None
            try:
                self.then(self.value, self.exc)
            except Exception:  # the caller's bug must not keep the other answers back
                logger.exception("reply callback failed", extra={"action": "engine.reply"})
            return
        if self.fut.done():  # cancelled: its caller went away (or the server is closing)
            return
        if self.exc is not None:
            self.fut.set_exception(self.exc)
        else:
            self.fut.set_result(self.value)


def _settle_all(
    replies: list[AsyncReply],
    listeners: Sequence[Callable[[Wakeup], None]] = (),
    wake: Wakeup | None = None,
) -> None:
    """On a loop: its listeners see the commit, then its callers get their answers."""
    if wake is not None:
        for fn in listeners:
            try:
                fn(wake)
            except Exception:
                logger.exception("listener failed", extra={"action": "engine.listener"})
    for r in replies:
        r.settle()


def _nothing(_state: State) -> None:
    """A command that changes nothing: it only wakes the engine thread."""


def _mark(st: State) -> tuple[int, ...]:
    """A cheap fingerprint of pending changes, to catch a command that fails half-way."""
    return (
        st.event_seq, len(st.dirty_jobs), len(st.dirty_work),
        len(st.dirty_subs), len(st.new_jobs), len(st.new_subs), len(st.new_work),
        len(st.dirty_hosts), len(st.new_hosts), len(st.removed), len(st.ch.sub_deletes),
        st.timers.version, st.schedules.version,
    )  # fmt: skip


class Engine:
    def __init__(
        self, store: Store, *, host_timeout: float = 30.0, meters: Meters | None = None
    ) -> None:
        self.store = store
        self.meters = meters if meters is not None else Meters()
        self.state = State(store, host_timeout, self.meters)
        self.host_timeout = host_timeout
        self._queue: queue.SimpleQueue[
            tuple[Callable[..., Any], tuple[Any, ...], Future[Any]] | None
        ]
        self._queue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Wakeup], None]] = []
        self._loop_listeners: dict[asyncio.AbstractEventLoop, list[Callable[[Wakeup], None]]] = {}
        self._stopping = False
        self.batches = 0
        self.commands = 0
        self.commits = 0  # batches that wrote something
        self._outbox: list[AsyncReply] = []
        # batches applied on an asyncio loop's own thread (``acall_here``); the lock keeps
        # them and the engine thread's batches apart
        self._lock = threading.Lock()
        self._here: list[tuple[Callable[..., Any], tuple[Any, ...], AsyncReply]] = []
        self._here_loop: asyncio.AbstractEventLoop | None = None
        self._here_scheduled = False
        self.inline = store.dialect == "sqlite"
        # a reload failed: the state is not to be used until one succeeds (``_try_reload``)
        self._stale = False
        self._reload_failed = False
        self._reload_after = 0.0  # (monotonic) no new try before then

    # ------------------------------------------------------------------ lifecycle

    def start(self, *first: tuple[Callable[..., Any], tuple[Any, ...]]) -> list[Future[Any]]:
        """Load the state and start the engine thread. ``first``: commands applied before any
        other, in one batch (the tasks an older triggerfish left in its intake journal:
        ``server.oldintake``); their futures, settled."""
        self.state.load()
        futures: list[Future[Any]] = []
        if first:
            batch: list[Item] = [(fn, args, Future()) for fn, args in first]
            with self._lock:
                self.state.now = time.time()
                self._apply(batch)
            futures = [fut for _, _, fut in batch]
        self._thread = threading.Thread(target=self._run, name="triggerfish-engine", daemon=True)
        self._thread.start()
        logger.info(
            "engine started", extra={"action": "engine.start", "jobs": len(self.state.jobs)}
        )
        return futures

    def stop(self) -> None:
        self._stopping = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def listen(self, fn: Callable[[Wakeup], None]) -> None:
        """Call ``fn(wake)`` in the engine thread after each commit."""
        self._listeners.append(fn)

    def listen_on(self, loop: asyncio.AbstractEventLoop, fn: Callable[[Wakeup], None]) -> None:
        """Call ``fn(wake)`` on ``loop`` after each commit, in the same hop to the loop as the
        answers of that commit (one wake-up of the loop, not two)."""
        self._loop_listeners.setdefault(loop, []).append(fn)

    # ------------------------------------------------------------------ calls

    def call(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(state, *args)``; the future resolves after the commit."""
        fut: Future[T] = Future()
        if self._stopping:
            fut.set_exception(StoreError("the supervisor is shutting down"))
            return fut
        self._queue.put((fn, args, fut))
        return fut

    async def acall(self, fn: Callable[..., T], *args: Any) -> T:
        """Await ``fn(state, *args)`` from an asyncio loop; resolves after the commit."""
        reply = AsyncReply(asyncio.get_running_loop(), self._outbox)
        if self._stopping:
            raise StoreError("the supervisor is shutting down")
        self._queue.put((fn, args, reply))  # type: ignore[arg-type]
        assert reply.fut is not None
        result: T = await reply.fut
        return result

    async def acall_here(self, fn: Callable[..., T], *args: Any) -> T:
        """As :meth:`acall`, but on SQLite the batch runs on the calling loop's thread when the
        engine is free: the commands that arrive in one turn of the loop are applied and
        committed together at the end of it, without two thread hand-offs per command (a
        SQLite commit takes well under a millisecond). When the engine thread is busy, or on
        PostgreSQL (a commit is a network round trip), the commands go to the engine thread."""
        reply = AsyncReply(asyncio.get_running_loop(), self._outbox)
        self._begin_here(fn, args, reply)
        assert reply.fut is not None
        result: T = await reply.fut
        return result

    def reply_here(self) -> AsyncReply:
        """A reply the engine settles later, awaited on the running loop (``reply.fut``): a
        parked pull's answer (``engine.parking``)."""
        return AsyncReply(asyncio.get_running_loop(), self._outbox)

    def begin_here(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        then: Callable[[T | None, BaseException | None], None],
    ) -> None:
        """As :meth:`acall_here`, from a plain function running on the loop: ``then(result,
        None)`` or ``then(None, error)`` is called on the loop once the command is committed
        or refused (no task, no future: a long poll given back when the server stops)."""
        self._begin_here(fn, args, AsyncReply(asyncio.get_running_loop(), self._outbox, then))

    def _begin_here(self, fn: Callable[..., Any], args: tuple[Any, ...], reply: AsyncReply) -> None:
        if self._stopping:
            reply.exc = StoreError("the supervisor is shutting down")  # not via the outbox:
            reply.loop.call_soon(reply.settle)  # that belongs to whoever holds the lock
            return
        if not self.inline or self._thread is None:
            self._queue.put((fn, args, reply))  # type: ignore[arg-type]
            return
        self._here.append((fn, args, reply))
        if not self._here_scheduled:
            self._here_scheduled = True
            reply.loop.call_soon(self._run_here, reply.loop)

    def _run_here(self, loop: asyncio.AbstractEventLoop) -> None:
        self._here_scheduled = False
        batch, self._here = self._here, []
        if not batch:
            return
        if self._stopping:  # the engine thread may have answered its last command already
            for _, _, reply in batch:
                reply.set_exception(StoreError("the supervisor is shutting down"))
            with self._lock:
                self._send_replies()
            return
        if not self._lock.acquire(blocking=False):
            for item in batch:  # the engine thread is at work: it takes them next
                self._queue.put(item)  # type: ignore[arg-type]
            return
        st = self.state
        try:
            due = (st.timers.version, st.retry_heap[0] if st.retry_heap else None)
            st.now = time.time()
            self._here_loop = loop
            self._apply(batch)  # type: ignore[arg-type]
        finally:
            self._here_loop = None
            self._lock.release()
        if (st.timers.version, st.retry_heap[0] if st.retry_heap else None) != due:
            self._queue.put((_nothing, (), Future()))  # the engine thread's next wake-up moved

    def _send_replies(self, wake: Wakeup | None = None) -> None:
        """Hand the settled async replies (and ``wake``, to the loops' listeners) to their
        loops, one thread hop per loop."""
        if not self._outbox and wake is None:
            return
        by_loop: dict[asyncio.AbstractEventLoop, list[AsyncReply]] = {}
        for r in self._outbox:
            by_loop.setdefault(r.loop, []).append(r)
        self._outbox.clear()
        if wake is not None:
            for loop in self._loop_listeners:
                by_loop.setdefault(loop, [])
        for loop, replies in by_loop.items():
            if not loop.is_closed():
                fns = self._loop_listeners.get(loop, [])
                if loop is self._here_loop:  # on that loop's thread already
                    loop.call_soon(_settle_all, replies, fns, wake)
                else:
                    loop.call_soon_threadsafe(_settle_all, replies, fns, wake)

    def run_sync(self, fn: Callable[..., T], *args: Any, timeout: float = 60.0) -> T:
        return self.call(fn, *args).result(timeout)

    # ------------------------------------------------------------------ the loop

    def _timeout(self) -> float:
        """How long the loop may sleep: until the next timer, retry or host check."""
        t = HOST_CHECK_EVERY
        if self._stale:  # (half loaded, maybe: not read; the next batch loads it again)
            return t
        now = time.time()
        nxt = workers.next_timer(self.state)
        if nxt is not None:
            t = min(t, max(0.0, nxt - now))
        due = self.state.timers.next_due()
        if due is not None:
            t = min(t, max(0.0, due - now))
        return t

    def _run(self) -> None:
        last_host_check = 0.0
        last_host_flush = time.time()
        while True:
            batch: list[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]] = []
            try:
                item = self._queue.get(timeout=self._timeout())
            except queue.Empty:
                item = None
            stop = self._stopping
            if item is not None:
                batch.append(item)
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    continue
                batch.append(more)
            with self._lock:
                if self._fresh(batch):
                    now = time.time()
                    st = self.state
                    st.now = now
                    if now - last_host_check >= HOST_CHECK_EVERY:
                        last_host_check = now
                        workers.check_hosts(st, self.host_timeout)
                        if now - last_host_flush >= HOST_FLUSH_EVERY:
                            last_host_flush = now
                            for h in st.hosts.values():
                                st.touch_host(h)
                    workers.fire_retries(st)
                    self._fire_timers()
                    self._apply(batch)
            if stop:
                with self._lock:
                    down = StoreError("the supervisor is shutting down")
                    for _, _, fut in self._drain():
                        fut.set_exception(down)
                    parking.release_all(self.state, down)
                    self._settle_owed()
                    self._send_replies()
                return

    def _fire_timers(self) -> None:
        """Run the due timers' handlers; their changes join this batch's commit.

        A handler that raises: the state is reloaded from the store (what this batch changed so
        far is thrown away, the timer comes back) and the timer is retried later.
        """
        st = self.state
        try:
            timers.fire_due(st, late=self.meters.timer_fired)
        except timers.HandlerFailed as exc:
            logger.error(
                "timer handler failed; retried in %g s",
                timers.RETRY_DELAY,
                exc_info=exc.cause,
                extra={"action": "timers.failed", "key": exc.timer.key, "kind": exc.timer.kind},
            )
            now = st.now
            self._reload()
            if self._stale:  # (the batch fails at once: nothing to defer on)
                return
            st = self.state
            st.now = now
            st.timers.defer(exc.timer.key, now + timers.RETRY_DELAY)

    def _drain(self) -> list[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]]:
        out: list[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out
            if item is not None:
                out.append(item)

    def _apply(self, batch: list[Item], *, isolating: bool = False) -> TriggerfishError | None:
        """Apply the batch's commands and commit what they changed; answer them. The error of
        a commit that failed (None: committed). ``isolating``: a part of a batch whose commit
        the store refused: when it fails too, the state is reloaded and its callers are left
        waiting (the caller of this splits it further)."""
        if not self._fresh(batch):  # (a reload failed: the store cannot be read now)
            return StoreError("the database cannot be read now; try again later")
        st = self.state
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        broken: BaseException | None = None
        for fn, args, fut in batch:
            before = _mark(st)
            try:
                results.append((fut, fn(st, *args), None))
            except TriggerfishError as exc:
                if _mark(st) != before:  # refused after changing something: not safe to keep
                    logger.error(
                        "command changed state before refusing",
                        extra={"action": "engine.partial", "command": fn.__name__},
                    )
                    self._recover(batch, exc)
                    return exc
                results.append((fut, None, exc))
            except Exception as exc:  # a bug: memory may be half-changed
                logger.exception(
                    "command failed", extra={"action": "engine.bug", "command": fn.__name__}
                )
                broken = exc
                break
        if broken is not None:
            err: TriggerfishError = StoreError(
                f"internal error ({type(broken).__name__}); nothing was changed"
            )
            self._recover(batch, err)
            return err
        served = self._serve_parked(batch)
        if served is not None:
            return served
        finished = set(st.finished)
        st.finished.clear()
        wake = Wakeup(0, launch=st.cbs.launch)
        st.cbs.launch = []
        changes = st.take_changes()
        wake.job_events = any(e["type"] == "job" for e in changes.events)
        wake.events = changes.events
        took = None
        if not changes.empty():
            began = time.perf_counter()
            try:
                self.store.flush(changes)
            except Exception as commit_exc:
                logger.exception("commit failed", extra={"action": "engine.commit_failed"})
                return self._commit_failed(batch, store_failure(commit_exc), isolating)
            took = time.perf_counter() - began
            self.commits += 1
        self.meters.batch(len(batch), changes.events, took)
        st.labels_added.clear()
        if finished:
            st.evict_finished(finished)
        wake.event_seq = st.event_seq
        self.batches += 1
        self.commands += len(batch)
        for fut, value, failure in results:
            if failure is not None:
                fut.set_exception(failure)
            else:
                fut.set_result(value)
        self._settle_owed()
        self._send_replies(wake)
        for fn in self._listeners:
            try:
                fn(wake)
            except Exception:
                logger.exception("listener failed", extra={"action": "engine.listener"})
        return None

    def _serve_parked(self, batch: list[Item]) -> TriggerfishError | None:
        """Parked pulls get the work this batch made, claimed in this same commit; what they
        start fires callbacks, which may make more work for the others. The error if a
        callback failed (the batch was thrown away)."""
        st = self.state
        try:
            if st.preempt == "aggressive" and st.work_available:
                preempt.aggressive(st)
            parking.serve(st)
            callbacks.run_fired(st)
            rounds = 1
            while parking.more(st) and rounds < parking.MAX_ROUNDS:
                parking.serve(st)
                callbacks.run_fired(st)
                rounds += 1
        except Exception as exc:  # a bug in a qube action: throw the batch away
            logger.exception("callbacks failed", extra={"action": "engine.bug"})
            err = StoreError(f"internal error ({type(exc).__name__}); nothing was changed")
            self._recover(batch, err)
            return err
        return None

    # ------------------------------------------------------------------ a failed commit

    def _commit_failed(
        self, batch: list[Item], err: StoreError, isolating: bool
    ) -> TriggerfishError:
        """The store refused the batch's commit. A store that fails (unreachable, full): the
        batch is thrown away and every caller told. A value it cannot hold (``StoreRefused``):
        one command's fault, not the others' — the batch is thrown away and applied again in
        parts (:meth:`_bisect`), so that only the command that holds it fails."""
        if isolating:
            self._throw_away()
        elif isinstance(err, StoreRefused) and batch:
            self._throw_away()
            self._bisect(batch, err)
        else:
            self._recover(batch, err)
        return err

    def _bisect(self, batch: list[Item], err: StoreRefused) -> None:
        """``batch`` failed to commit with ``err`` and was thrown away (its callers wait):
        commit each half alone, and split a half that fails again, down to the one command
        the store refuses, which fails alone."""
        if len(batch) == 1:
            fn, _, fut = batch[0]
            if not fut.done():
                logger.error(
                    "a command the store refused alone fails: %s", err.message,
                    extra={"action": "engine.refused", "command": fn.__name__},
                )  # fmt: skip
                fut.set_exception(err)
                self._send_replies()
            return
        mid = len(batch) // 2
        logger.warning(
            "the store refused a value of a batch of %d commands: committed in parts",
            len(batch), extra={"action": "engine.isolate"},
        )  # fmt: skip
        for part in (batch[:mid], batch[mid:]):
            part_err = self._apply(part, isolating=True)
            if isinstance(part_err, StoreRefused):
                self._bisect(part, part_err)
            elif part_err is not None:  # the store fails now (or a command did): all of it
                self._fail(part, part_err)

    def _fail(self, batch: list[Item], err: TriggerfishError) -> None:
        for _, _, fut in batch:
            if not fut.done():
                fut.set_exception(err)
        self._send_replies()

    def _throw_away(self) -> None:
        """Throw away what the batch changed (it was not committed): what it owes besides its
        commands (parked pulls it served) fails, so their workers pull again; the state is
        reloaded."""
        self._settle_owed(StoreError("the commit failed; ask again"))
        self._reload()

    def _recover(
        self,
        batch: list[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]],
        err: TriggerfishError,
    ) -> None:
        """Throw away the batch's changes: reload the state from the store, fail every caller."""
        for _, _, fut in batch:
            if not fut.done():
                fut.set_exception(err)
        self._settle_owed(err)  # parked pulls it served: their work was not committed
        self._reload()

    def _settle_owed(self, err: BaseException | None = None) -> None:
        """Answer what the batch owes besides its commands (``State.answers``: parked pulls
        served or let go), or fail all of it with ``err``."""
        st = self.state
        owed, st.answers = st.answers, []
        for answer, value, failure in owed:
            failure = err or failure
            if failure is not None:
                answer.set_exception(failure)
            else:
                answer.set_result(value)

    def _reload(self) -> None:
        """Throw away what memory holds that is not committed: load the state again. Parked
        pulls are answered empty (their workers pull again, from the state reloaded).

        A store that cannot be read now (down, or a full disk SQLite cannot even read past)
        leaves the state stale: the next batches try again first and, until one succeeds,
        their commands fail at once (503) — no thread waits here (this may run on the
        server's own loop: ``acall_here``)."""
        if not self._stale:
            parking.release_all(self.state)
        self._settle_owed()
        self._send_replies()
        self._stale = True
        self._try_reload()

    def _try_reload(self) -> bool:
        """Load the state from the store if it is stale; whether it is fresh now."""
        if not self._stale:
            return True
        now = time.monotonic()
        if now < self._reload_after:
            return False
        try:
            self.state.load()
        except Exception:
            if not self._reload_failed:  # (once per outage, not at every try)
                logger.exception("reload failed; retried", extra={"action": "engine.reload"})
            self._reload_failed = True
            self._reload_after = now + RELOAD_RETRY
            return False
        if self._reload_failed:
            logger.warning("state loaded again", extra={"action": "engine.reloaded"})
        self._stale = self._reload_failed = False
        return True

    def _fresh(self, batch: list[Item]) -> bool:
        """Whether the state may be used (reloaded first if it is stale); if not, the batch's
        commands fail at once."""
        if self._try_reload():
            return True
        self._fail(batch, StoreError("the database cannot be read now; try again later"))
        return False
