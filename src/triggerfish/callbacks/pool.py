"""Runs python callbacks in their own processes, never inside the supervisor.

Each run is a child process (``triggerfish.callbacks.pyrun``) in its own session, with a time
limit (its whole process group is killed when it passes it) and a memory limit (RLIMIT_AS).
A few runs go at once (``workers``); the rest wait their turn. When a run ends, its status,
output and traceback go back to the engine as a command, like any other change.

A run acts on the API with a token of its own, issued when it starts with the rights of the
callback's owner and revoked when it ends. With ``user`` set (``--callback-user``) the child
drops to that OS user before it reads the callback's code.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from triggerfish.callbacks.osuser import CallbackUser
from triggerfish.callbacks.runenv import callback_env

logger = logging.getLogger(__name__)
MAX_OUTPUT = 64 * 1024


@dataclass
class PoolSettings:
    url: str
    timeout: float = 60.0
    memory_mb: int = 1024
    workers: int = 4
    user: CallbackUser | None = None


class RunTokens(Protocol):
    """Who hands out the runs' tokens (the server's token authority)."""

    def issue_run_token(self, owner: str) -> str: ...

    def revoke_run_token(self, token: str) -> None: ...


Finish = Callable[[int, str, str, str | None, float, float], None]


class RunnerPool:
    def __init__(self, settings: PoolSettings, finish: Finish, tokens: RunTokens) -> None:
        self.settings = settings
        self._finish = finish
        self._tokens = tokens
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="callback-run")

    def submit(self, spec: dict[str, Any]) -> None:
        self._pool.submit(self._run_safely, spec)

    def launch(self, wake: Any) -> None:
        """An engine listener: start the runs a commit queued (``wake.launch``)."""
        for spec in wake.launch:
            self.submit(spec)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run_safely(self, spec: dict[str, Any]) -> None:
        try:
            self._run(spec)
        except Exception:  # never lose a run silently
            logger.exception("callback run failed to start", extra={"action": "callback.run"})
            now = time.time()
            self._finish(spec["run"], "failed", "", "the runner could not start it", now, now)

    def _limits(self) -> None:  # in the child, before exec
        import resource

        limit = self.settings.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def _run(self, spec: dict[str, Any]) -> None:
        token = self._tokens.issue_run_token(str(spec.get("user") or ""))
        try:
            self._run_with(spec, token)
        finally:
            self._tokens.revoke_run_token(token)

    def _run_with(self, spec: dict[str, Any], token: str) -> None:
        started = time.time()
        user = self.settings.user
        env = callback_env(spec, url=self.settings.url, token=token, user=user)
        args = [sys.executable, "-m", "triggerfish.callbacks.pyrun"]
        proc = subprocess.Popen(
            args + (["--as-user", user.name] if user is not None else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=None if user is None else (user.home if os.path.isdir(user.home) else "/"),
            start_new_session=True,
            preexec_fn=self._limits,
        )
        error: str | None = None
        try:
            out, _ = proc.communicate(spec["code"].encode(), timeout=self.settings.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, _ = proc.communicate()
            error = f"time limit of {self.settings.timeout:g} s passed: killed"
        text = out.decode("utf-8", "replace")[-MAX_OUTPUT:]
        if error is None and proc.returncode != 0:
            lines = [x for x in text.strip().splitlines() if x.strip()]
            last = lines[-1] if lines else ""
            if proc.returncode < 0:
                error = f"killed by signal {-proc.returncode}"
            else:
                error = last or f"exited with {proc.returncode}"
        status = "failed" if error else "complete"
        self._finish(spec["run"], status, text, error, started, time.time())


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
