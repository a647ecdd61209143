"""A child process in a session of its own: spawn it, stream its output, signal its group.

On Linux a command without a working directory of its own starts with ``os.posix_spawn`` (a
vfork and exec in C, several times cheaper than ``subprocess.Popen``'s Python set-up); other
commands, and other systems, go through ``Popen``. The output of both pipes is read on the
event loop (non-blocking reads, no thread) and handed to a callback as text, decoded
incrementally as UTF-8 with replacement. The exit of the process
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
from typing import Literal

logger = logging.getLogger(__name__)

Stream = Literal["stdout", "stderr"]
OutputCallback = Callable[[Stream, str], None]
READ_SIZE = 64 * 1024
# what Popen's restore_signals gives back to a child (Python itself ignores SIGPIPE)
RESTORED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)
POSIX_SPAWN = sys.platform == "linux" and hasattr(os, "posix_spawn")


class _Pipe:
    """One output pipe of the child, read whenever the loop says it is readable."""

    def __init__(
        self, stream: Stream, fd: int, closer: Callable[[], None], owner: ChildProcess
    ) -> None:
        self.stream: Stream = stream
        self.fd = fd
        self.closer = closer
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
        self.closer()
        self.owner.emit(self.stream, self.decoder.decode(b"", final=True))
        self.owner.pipe_closed()


class ChildProcess:
    """A running command in its own session (process group id = pid)."""

    def __init__(
        self,
        pid: int,
        out: tuple[int, Callable[[], None]],
        err: tuple[int, Callable[[], None]],
        on_output: OutputCallback,
        popen: subprocess.Popen[bytes] | None = None,
    ) -> None:
        """``out``/``err``: the read end of each pipe and how to close it; ``popen`` when the
        process was started by ``Popen`` (which then also reaps it)."""
        self.loop = asyncio.get_running_loop()
        self.popen = popen
        self.pid = pid
        self._on_output = on_output
        self._exited: asyncio.Future[None] = self.loop.create_future()
        self._pipes_done: asyncio.Future[None] = self.loop.create_future()
        self._pidfd = -1
        self.returncode: int | None = None
        self._pipes = [_Pipe("stdout", *out, self), _Pipe("stderr", *err, self)]
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
        if POSIX_SPAWN and cwd is None:
            spawned = cls._posix_spawn(argv, env, on_output)
            if spawned is not None:
                return spawned
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
        assert popen.stdout is not None and popen.stderr is not None
        out = (popen.stdout.fileno(), popen.stdout.close)
        err = (popen.stderr.fileno(), popen.stderr.close)
        try:
            return cls(popen.pid, out, err, on_output, popen)
        except BaseException:
            _kill_now(popen)
            raise

    @classmethod
    def _posix_spawn(
        cls, argv: Sequence[str], env: Mapping[str, str], on_output: OutputCallback
    ) -> ChildProcess | None:
        """``posix_spawn`` in a new session with stdin from /dev/null and both outputs piped;
        None (use Popen) in the odd case where a pipe end lands on fd 0-2."""
        fds = [*os.pipe(), *os.pipe()]  # non-inheritable: only the dup2 copies reach the child
        r_out, w_out, r_err, w_err = fds
        if min(fds) <= 2:
            for fd in fds:
                os.close(fd)
            return None
        try:
            pid = os.posix_spawn(
                argv[0],
                list(argv),
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, w_out, 1),
                    (os.POSIX_SPAWN_DUP2, w_err, 2),
                ],
                setsid=True,
                setsigdef=RESTORED_SIGNALS,
            )
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        os.close(w_out)
        os.close(w_err)
        try:
            return cls(pid, (r_out, _closer(r_out)), (r_err, _closer(r_err)), on_output)
        except BaseException:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
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
        elif self.popen is not None:  # pragma: no cover - no waitid: reaping here is the only way
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
            self.returncode = self._wait()
        return self.returncode

    def _wait(self) -> int:
        if self.popen is not None:
            rc = self.popen.poll()
            return rc if rc is not None else self.popen.wait()
        while True:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped elsewhere: the status is lost
                return 255
            except InterruptedError:  # pragma: no cover - retried by Python since 3.5
                continue
            return os.waitstatus_to_exitcode(status)

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
            self.returncode = self._wait()
        for pipe in self._pipes:
            pipe.drain()
            pipe.close()
        self._on_exit()


def _closer(fd: int) -> Callable[[], None]:
    return lambda: os.close(fd)


def _kill_now(popen: subprocess.Popen[bytes]) -> None:
    if popen.returncode is None:  # once reaped, the group id may belong to someone else
        with contextlib.suppress(OSError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
    for f in (popen.stdout, popen.stderr):
        if f is not None:
            f.close()
