"""A worker's own health check (``triggerfish worker --check CMD``).

The command runs with ``/bin/sh -c`` once when the worker starts (before it takes work) and
then every ``interval`` seconds, for at most ``interval`` seconds (at least
:data:`MIN_TIMEOUT`). Exit 0 passes; anything else (an exit code, a timeout, a command that
cannot start) fails, with the last line it printed as part of the reason. The worker tells the
supervisor the state with its registration, pulls and reports, and at once when it changes;
while the check fails the host gets no new work (``engine.hostcheck``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable

from triggerfish.worker.command import SHELL
from triggerfish.worker.exits import describe_exit

logger = logging.getLogger(__name__)

MIN_TIMEOUT = 5.0
MAX_REASON = 500  # characters of the reason sent to the supervisor


class HealthCheck:
    """``state``: ``""`` while the check passes, else why it fails."""

    def __init__(
        self, command: str, interval: float = 60.0, on_change: Callable[[], None] | None = None
    ) -> None:
        self.command = command
        self.interval = interval
        self.timeout = max(MIN_TIMEOUT, interval)
        self.state = ""
        self._on_change = on_change

    async def run_once(self) -> str:
        """Run the check now; its new state (and ``on_change`` called if it changed)."""
        state = await self._run()
        if state != self.state:
            self.state = state
            if state:
                logger.warning("the check fails: %s", state, extra={"action": "check_failing"})
            else:
                logger.info("the check passes again", extra={"action": "check_passing"})
            if self._on_change is not None:
                self._on_change()
        return state

    async def loop(self) -> None:
        """Run the check every ``interval`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except Exception:  # (never seen; the check goes on at the next interval)
                logger.exception("the check could not run", extra={"action": "check_error"})

    async def _run(self) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                SHELL, "-c", self.command, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            return _reason(self.command, f"cannot start: {exc.strerror or exc}", "")
        try:
            async with asyncio.timeout(self.timeout):
                out, _ = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return _reason(self.command, f"timed out after {self.timeout:g} s", "")
        finally:
            if proc.returncode is None:  # (cancelled: the worker stops)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        error = describe_exit(proc.returncode if proc.returncode is not None else -9)
        if error is None:
            return ""
        return _reason(self.command, error, out.decode("utf-8", "replace"))


def _reason(command: str, error: str, output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    text = f"check {command!r} {error}" + (f": {lines[-1]}" if lines else "")
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
