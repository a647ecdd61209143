"""The future of one agenda item: its call (``submit``) or its chunk of calls (``map``)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

from triggerfish.futures.encoding import decode_results
from triggerfish.futures.errors import RemoteError

JSON = dict[str, Any]
Kill = Callable[[Sequence["FarmFuture"]], bool]


class FarmFuture(Future[Any]):
    """A ``concurrent.futures.Future`` of agenda item ``job:name``.

    ``cancel()`` kills the item on the farm and answers True when it could (the item had not
    ended); like the standard library's, it answers False for a call seen running. With
    ``unwrap`` (``submit``) the result is the call's return value; without it (a ``map``
    chunk) it is ``(return values, the exception after them or None)``.
    """

    def __init__(self, job: int, name: str, *, unwrap: bool, lock: threading.RLock,
                 kill: Kill) -> None:  # fmt: skip
        super().__init__()
        self.job = job
        self.name = name
        self._unwrap = unwrap
        self._lock = lock
        self._kill = kill

    @property
    def target(self) -> str:
        """The item as the control verbs name it: ``"12:0"``."""
        return f"{self.job}:{self.name}"

    def __repr__(self) -> str:
        state = ("cancelled" if self.cancelled() else "finished" if self.done()
                 else "running" if self.running() else "pending")  # fmt: skip
        return f"<FarmFuture {self.target} {state}>"

    def cancel(self) -> bool:
        with self._lock:
            if self.cancelled():
                return True
            if self.done() or self.running():
                return False
        return self._kill([self]) and self.cancel_here()

    # ------------------------------------------------------------------ the reader's side

    def cancel_here(self) -> bool:
        """Cancelled without asking the farm (its item is killed already)."""
        with self._lock:
            if self.cancelled():
                return True
            if not super().cancel():
                return False
            self.set_running_or_notify_cancel()  # (wakes concurrent.futures.wait and the like)
            return True

    def mark_running(self) -> None:
        with self._lock:
            if not self.done() and not self.running():
                self.set_running_or_notify_cancel()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if not self.done():
                with contextlib.suppress(InvalidStateError):  # (cancelled meanwhile)
                    self.set_exception(exc)

    def _give(self, value: Any) -> None:
        with self._lock:
            if not self.done():
                with contextlib.suppress(InvalidStateError):
                    self.set_result(value)

    def settle(self, status: str, item: JSON) -> None:
        """The item ended with ``status`` (complete, failed, killed): its outcome."""
        if self.done():
            return
        if status == "killed":
            if not self.cancel_here():
                self.fail(RemoteError(f"item {self.target} was killed", job=self.job))
            return
        where = f" (item {self.target}" + (f" on {item['host']})" if item.get("host") else ")")
        package = item.get("resultpackage") or item.get("result") or {}
        try:
            results, error = decode_results(package, where)
        except Exception as exc:
            self.fail(RemoteError(f"the result of item {self.target} cannot be read: {exc}"))
            return
        if status == "failed" and error is None:
            why = package.get("error") if isinstance(package.get("error"), str) else None
            error = RemoteError(
                f"item {self.target} failed without a result ("
                + (why or "its process ended, or a time limit stopped it")
                + f"): see 'triggerfish logs {self.target}'", job=self.job,
            )  # fmt: skip
        if not self._unwrap:
            self._give((results, error))
        elif results:
            self._give(results[0])
        else:
            self.fail(error or RemoteError(f"item {self.target} ended without a result"))
