"""``Executor``: a ``concurrent.futures.Executor`` whose calls run on the farm.

``submit`` sends one job of one item; ``map`` sends one job (one request, whatever its size)
of one item per call, or per chunk of ``chunksize`` calls. The items run in the ``pyfutures``
job type on the workers (``triggerfish.futures.jobtype``); one reader thread per executor
settles the futures from the event stream (``triggerfish.futures.reader``).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from triggerfish.client import Client, ClientError
from triggerfish.futures.encoding import Call, encode_calls, encode_fn
from triggerfish.futures.future import FarmFuture
from triggerfish.futures.reader import Reader
from triggerfish.model.pyfutures import PROTOTYPE

JSON = dict[str, Any]
MAX_CPUS = 10_000  # a job's most instances (model.jobspec)


class Executor(concurrent.futures.Executor):
    """Run Python calls on the farm: ``with Executor() as ex: list(ex.map(pow, [2], [5]))``.

    ``url`` and ``token`` default as ``triggerfish.client.Client``'s (``TRIGGERFISH_URL``,
    ``TRIGGERFISH_TOKEN``, the local admin token). ``name``, ``priority``, ``requirements``
    and ``env`` are those of each job sent; ``cpus`` the most instances at once of a ``map``'s
    job (default: one per item; each instance runs items one after another; a ``submit``'s
    job has one).
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        name: str | None = None,
        priority: int | None = None,
        cpus: int | None = None,
        requirements: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._client = Client(url, token=token)
        self.url = self._client.url
        self._name = name
        self._cpus = cpus
        fields = {"priority": priority, "requirements": requirements,
                  "env": dict(env) if env is not None else None}  # fmt: skip
        self._fields: JSON = {k: v for k, v in fields.items() if v is not None}
        self._lock = threading.RLock()  # the futures' states (reader, cancel)
        self._open = threading.Lock()  # submissions against shutdown
        self._shutdown = False
        self._pending: set[FarmFuture] = set()
        self._reader = Reader(self.url, self._client.token)
        self._allow_pickle: bool | None = None

    @property
    def allow_pickle(self) -> bool:
        """Whether the supervisor accepts pickles (asked once: ``GET /api/v1/health``)."""
        if self._allow_pickle is None:
            self._allow_pickle = bool(self._client.health().get("allow_pickle", False))
        return self._allow_pickle

    # ------------------------------------------------------------------ sending

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> FarmFuture:
        """One job of one item: ``fn(*args, **kwargs)`` on the farm."""
        with self._open:
            self._check_open()
            package = self._package(fn)
            item = encode_calls([(args, kwargs)], self.allow_pickle)
            [fut] = self._send(fn, package, [item], unwrap=True, cpus=1)
            return fut

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[Any]:
        """One job of one item per call (per ``chunksize`` calls): the results in order, as
        they come. ``timeout`` (seconds from this call) as the standard library's."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end = None if timeout is None else timeout + time.monotonic()
        calls: list[Call] = [(args, {}) for args in zip(*iterables, strict=False)]
        with self._open:
            self._check_open()
            if not calls:
                return iter(())
            package = self._package(fn)
            items = [encode_calls(calls[i : i + chunksize], self.allow_pickle)
                     for i in range(0, len(calls), chunksize)]  # fmt: skip
            cpus = min(self._cpus or len(items), len(items), MAX_CPUS)
            futures = self._send(fn, package, items, unwrap=False, cpus=cpus)
        return self._results(futures, end)

    def _check_open(self) -> None:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")

    def _package(self, fn: Callable[..., Any]) -> JSON:
        package = encode_fn(fn, self.allow_pickle)
        if self.allow_pickle:
            package["pickle_results"] = True
        return package

    def _send(self, fn: Callable[..., Any], package: JSON, items: list[JSON], *,
              unwrap: bool, cpus: int) -> list[FarmFuture]:  # fmt: skip
        self._reader.start()
        submitted = time.monotonic()
        label = getattr(fn, "__qualname__", None) or type(fn).__name__
        job = {**self._fields, "name": self._name or f"futures {label}", "prototype": PROTOTYPE,
               "package": package, "cpus": cpus,
               "agenda": [{"name": str(i), "package": p} for i, p in enumerate(items)]}  # fmt: skip
        [answer] = self._client.submit(job)
        jid = int(answer["id"])
        futures = [FarmFuture(jid, str(i), unwrap=unwrap, lock=self._lock, kill=self._kill)
                   for i in range(len(items))]  # fmt: skip
        with self._lock:
            self._pending.update(futures)
        for fut in futures:
            fut.add_done_callback(self._done)
        self._reader.add(jid, {f.name: f for f in futures}, submitted)
        return futures

    def _done(self, fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(fut)

    def _results(self, futures: list[FarmFuture], end: float | None) -> Iterator[Any]:
        """``map``'s results: each chunk's values, then its exception if it had one."""
        futures.reverse()
        try:
            while futures:
                fut = futures[-1]
                left = None if end is None else end - time.monotonic()
                values, error = fut.result(left)
                futures.pop()
                yield from values
                if error is not None:
                    raise error
        finally:
            self._cancel_many(futures)

    # ------------------------------------------------------------------ killing

    def _kill(self, futures: Sequence[FarmFuture]) -> bool:
        """Kill the items of ``futures`` on the farm; True when every one was."""
        return len(self._kill_some(list(futures))) == len(futures)

    def _kill_some(self, futures: list[FarmFuture]) -> list[FarmFuture]:
        """The futures whose items were killed (one request; halves of it where some had
        ended already: the request is all or nothing)."""
        if not futures:
            return []
        try:
            self._client.control("kill", [f.target for f in futures])
            return futures
        except ClientError as exc:
            if exc.status not in (404, 409):
                raise
        if len(futures) == 1:
            return []
        half = len(futures) // 2
        return self._kill_some(futures[:half]) + self._kill_some(futures[half:])

    def _cancel_many(self, futures: Iterable[FarmFuture]) -> None:
        """Cancel the futures not running nor done, their items killed in one request."""
        with self._lock:
            todo = [f for f in futures if not f.done() and not f.running()]
        for fut in self._kill_some(todo):
            fut.cancel_here()

    # ------------------------------------------------------------------ shutdown

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more submissions; ``cancel_futures`` cancels the calls not started (their items
        killed); ``wait`` waits for the others to end."""
        with self._open:
            self._shutdown = True
        with self._lock:
            pending = list(self._pending)
        if cancel_futures:
            self._cancel_many(pending)
        self._reader.close()
        if wait:
            concurrent.futures.wait(pending)
            self._reader.join()
            self._client.close()
