"""A child process in a session of its own: spawn it, stream its output, signal its group.

The output of both pipes is read on the event loop (non-blocking reads, no thread) and handed
to a callback as text, decoded incrementally as UTF-8 with replacement. The exit of the process
is noticed through a pidfd on Linux (no thread, no SIGCHLD handler) or a thread blocked in
``waitid(WNOWAIT)`` elsewhere; both leave the process a zombie, so that its process group id
cannot be reused while the caller still signals the group. :meth:`ChildProcess.reap` collects
the exit status afterwards.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Literal

logger = logging.getLogger(__name__)

Stream = Literal["stdout", "stderr"]
OutputCallback = Callable[[Stream, str], None]
READ_SIZE = 64 * 1024


class _Pipe:
    """One output pipe of the child, read whenever the loop says it is readable."""

    def __init__(self, stream: Stream, file: IO[bytes], owner: ChildProcess) -> None:
        self.stream: Stream = stream
        self.file = file
        self.fd = file.fileno()
        self.owner = owner
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.open = True
        os.set_blocking(self.fd, False)

    def on_readable(self) -> None:
        try:
            data = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.owner.emit(self.stream, self.decoder.decode(data))
        else:
            self.close()

    def drain(self) -> None:
        """Read what is buffered in the pipe now, without waiting for more."""
        while self.open:
            try:
                data = os.read(self.fd, READ_SIZE)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self.owner.emit(self.stream, self.decoder.decode(data))

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        self.owner.loop.remove_reader(self.fd)
        self.file.close()
        self.owner.emit(self.stream, self.decoder.decode(b"", final=True))
        self.owner.pipe_closed()


class ChildProcess:
    """A running command in its own session (process group id = pid)."""

    def __init__(self, popen: subprocess.Popen[bytes], on_output: OutputCallback) -> None:
        self.loop = asyncio.get_running_loop()
        self.popen = popen
        self.pid = popen.pid
        self._on_output = on_output
        self._exited: asyncio.Future[None] = self.loop.create_future()
        self._pipes_done: asyncio.Future[None] = self.loop.create_future()
        self._pidfd = -1
        self.returncode: int | None = None
        assert popen.stdout is not None and popen.stderr is not None
        self._pipes = [_Pipe("stdout", popen.stdout, self), _Pipe("stderr", popen.stderr, self)]
        try:
            for pipe in self._pipes:
                self.loop.add_reader(pipe.fd, pipe.on_readable)
            self._watch_exit()
        except BaseException:
            self.close()
            raise

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: str | None,
        env: Mapping[str, str],
        on_output: OutputCallback,
    ) -> ChildProcess:
        """Start ``argv``; raises OSError/ValueError/SubprocessError if it cannot start."""
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            bufsize=0,
        )
        try:
            return cls(popen, on_output)
        except BaseException:
            _kill_now(popen)
            raise

    # ------------------------------------------------------------------ output

    def emit(self, stream: Stream, text: str) -> None:
        if not text:
            return
        try:
            self._on_output(stream, text)
        except Exception:
            logger.exception("output callback failed", extra={"action": "output_callback"})

    def pipe_closed(self) -> None:
        if not any(p.open for p in self._pipes) and not self._pipes_done.done():
            self._pipes_done.set_result(None)

    async def pipes_closed(self, timeout: float) -> bool:
        """Wait until every writer of both pipes has gone (EOF), at most ``timeout`` seconds."""
        if self._pipes_done.done():
            return True
        await asyncio.wait([self._pipes_done], timeout=max(0.0, timeout))
        return self._pipes_done.done()

    # ------------------------------------------------------------------ exit

    def _watch_exit(self) -> None:
        if sys.platform == "linux":
            try:
                self._pidfd = os.pidfd_open(self.pid)
            except OSError:
                self._pidfd = -1
            else:
                self.loop.add_reader(self._pidfd, self._on_exit)
                return
        threading.Thread(target=self._wait_thread, name=f"wait-{self.pid}", daemon=True).start()

    def _wait_thread(self) -> None:
        if sys.platform != "darwin" and hasattr(os, "waitid"):
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        else:  # pragma: no cover - no waitid: reaping here is the only way to learn of the exit
            self.popen.wait()
        with contextlib.suppress(RuntimeError):  # the loop has gone away
            self.loop.call_soon_threadsafe(self._on_exit)

    def _on_exit(self) -> None:
        if self._pidfd >= 0:
            self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        if not self._exited.done():
            self._exited.set_result(None)

    async def exited(self) -> None:
        """Wait until the process has ended (it stays a zombie until :meth:`reap`)."""
        await asyncio.shield(self._exited)

    def reap(self) -> int:
        """Collect the exit status (negative: killed by that signal). Call after exited()."""
        if self.returncode is None:
            rc = self.popen.poll()
            self.returncode = rc if rc is not None else self.popen.wait()
        return self.returncode

    # ------------------------------------------------------------------ signals

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the whole process group; False when it is already gone."""
        if self.returncode is not None:
            return False  # reaped: the group id may belong to someone else by now
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError as exc:
            logger.warning(
                "cannot signal process group %s: %s",
                self.pid,
                exc,
                extra={"action": "signal_group"},
            )
            return False
        return True

    def close(self) -> None:
        """Release everything; kills and reaps the group if it is still there."""
        if self.returncode is None:
            self.signal_group(signal.SIGKILL)
            self.returncode = self.popen.wait()
        for pipe in self._pipes:
            pipe.drain()
            pipe.close()
        self._on_exit()


def _kill_now(popen: subprocess.Popen[bytes]) -> None:
    if popen.returncode is None:  # once reaped, the group id may belong to someone else
        with contextlib.suppress(OSError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
    for f in (popen.stdout, popen.stderr):
        if f is not None:
            f.close()
