"""A child process in a session of its own: spawn it, stream its output, signal its group.

On Linux a command without a working directory of its own starts with ``os.posix_spawn`` (a
vfork and exec in C, several times cheaper than ``subprocess.Popen``'s Python set-up); other
commands, and other systems, go through ``Popen``. The output of both pipes is read on the
event loop (non-blocking reads, no thread) and handed to a callback as text, decoded
incrementally as UTF-8 with replacement. The exit of the process is noticed through a pidfd on
Linux (no thread, no SIGCHLD handler) or a thread blocked in ``waitid(WNOWAIT)`` elsewhere;
both leave the process a zombie, so that its process group id cannot be reused while the
caller still signals the group. :meth:`ChildProcess.reap` collects the exit status afterwards.

The per-command cost matters (a farm may run thousands of short commands a second), so the
work per command is kept small: one object, a decoder only for a stream that printed something,
and the pipes watched by the loop only once the command has run for :data:`WATCH_AFTER`
seconds. A command that ends sooner (most short frames) costs one loop registration, its pidfd;
what it printed is read when it ends. A command that prints more than a pipe holds (64 KiB)
within that time waits for the rest of it, then streams as usual.
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
# what Popen's restore_signals gives back to a child (Python itself ignores SIGPIPE)
RESTORED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)
POSIX_SPAWN = sys.platform == "linux" and hasattr(os, "posix_spawn")
PIDFD = sys.platform == "linux" and hasattr(os, "pidfd_open")
STREAMS: tuple[Stream, Stream] = ("stdout", "stderr")
WATCH_AFTER = 0.01  # seconds before the loop watches a command's output pipes
_Decoder = codecs.getincrementaldecoder("utf-8")


class ChildProcess:
    """A running command in its own session (process group id = pid)."""

    __slots__ = (
        "_decoders",
        "_exit_seen",
        "_exited",
        "_fds",
        "_files",
        "_on_output",
        "_pidfd",
        "_pipe_timer",
        "_pipes_done",
        "_watching",
        "loop",
        "pid",
        "popen",
        "returncode",
    )

    def __init__(
        self,
        pid: int,
        fds: tuple[int, int],
        on_output: OutputCallback,
        popen: subprocess.Popen[bytes] | None = None,
    ) -> None:
        """``fds``: the read ends of the stdout and stderr pipes, owned from now on (closed
        with the ``popen``'s file objects when ``popen`` is given: it started the process and
        then also reaps it)."""
        self.loop = asyncio.get_running_loop()
        self.popen = popen
        self.pid = pid
        self.returncode: int | None = None
        self._on_output = on_output
        self._fds = list(fds)
        self._files: tuple[IO[bytes] | None, ...] = (
            (popen.stdout, popen.stderr) if popen is not None else ()
        )
        self._decoders: list[codecs.IncrementalDecoder | None] = [None, None]
        self._exited: asyncio.Future[None] = self.loop.create_future()
        self._exit_seen = False
        self._pipes_done: asyncio.Future[None] | None = None
        self._pidfd = -1
        self._watching = False
        self._pipe_timer: asyncio.TimerHandle | None = None
        try:
            for fd in fds:
                os.set_blocking(fd, False)
            self._pipe_timer = self.loop.call_later(WATCH_AFTER, self._watch_pipes)
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
        try:
            return cls(popen.pid, (popen.stdout.fileno(), popen.stderr.fileno()), on_output, popen)
        except BaseException:
            _kill_now(popen)
            raise

    @classmethod
    def _posix_spawn(
        cls, argv: Sequence[str], env: Mapping[str, str], on_output: OutputCallback
    ) -> ChildProcess | None:
        """``posix_spawn`` in a new session with stdin from /dev/null and both outputs piped;
        None (use Popen) in the odd case where a pipe end lands on fd 0-2."""
        r_out, w_out = os.pipe()  # non-inheritable: only the dup2 copies reach the child
        r_err, w_err = os.pipe()
        if min(r_out, w_out, r_err, w_err) <= 2:
            for fd in (r_out, w_out, r_err, w_err):
                os.close(fd)
            return None
        try:
            pid = os.posix_spawn(
                argv[0],
                argv if isinstance(argv, list) else list(argv),
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
            os.close(r_out)
            os.close(r_err)
            raise
        finally:
            os.close(w_out)
            os.close(w_err)
        try:
            return cls(pid, (r_out, r_err), on_output)
        except BaseException:
            _reap_now(pid)
            raise

    @property
    def pipe_fds(self) -> tuple[int, ...]:
        """The read ends of the output pipes still open."""
        return tuple(fd for fd in self._fds if fd >= 0)

    # ------------------------------------------------------------------ output

    def _watch_pipes(self) -> None:
        """From now on the loop reads each pipe as soon as it is readable."""
        self._stop_pipe_timer()
        if self._watching:
            return
        self._watching = True
        for i, fd in enumerate(self._fds):
            if fd >= 0:
                self.loop.add_reader(fd, self._on_readable, i)

    def _stop_pipe_timer(self) -> None:
        if self._pipe_timer is not None:
            self._pipe_timer.cancel()
            self._pipe_timer = None

    def _on_readable(self, i: int) -> None:
        self._read_once(i)

    def _read_once(self, i: int) -> bool:
        """One read of pipe ``i``: its data passed on (True), or nothing there now, or EOF (the
        pipe closed)."""
        try:
            data = os.read(self._fds[i], READ_SIZE)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._close_pipe(i)
            return False
        self._emit(i, data)
        return True

    def _emit(self, i: int, data: bytes, final: bool = False) -> None:
        decoder = self._decoders[i]
        if decoder is None:
            if not data:
                return  # nothing was printed on this stream
            decoder = self._decoders[i] = _Decoder(errors="replace")
        text = decoder.decode(data, final)
        if not text:
            return
        try:
            self._on_output(STREAMS[i], text)
        except Exception:
            logger.exception("output callback failed", extra={"action": "output_callback"})

    def _drain(self, i: int) -> None:
        """Read what is buffered in pipe ``i`` now, without waiting for more; close it at EOF."""
        while self._fds[i] >= 0 and self._read_once(i):
            pass

    def _close_pipe(self, i: int) -> None:
        fd = self._fds[i]
        if fd < 0:
            return
        self._fds[i] = -1
        if self._watching:
            self.loop.remove_reader(fd)
        if self.popen is None:
            os.close(fd)
        else:
            file = self._files[i]
            if file is not None:
                file.close()
        self._emit(i, b"", final=True)
        if self._fds[0] < 0 and self._fds[1] < 0:
            done = self._pipes_done
            if done is not None and not done.done():
                done.set_result(None)

    def drain(self) -> None:
        """Read what both pipes hold now, without waiting for more (the output so far)."""
        self._drain(0)
        self._drain(1)

    async def pipes_closed(self, timeout: float) -> bool:
        """Wait until every writer of both pipes has gone (EOF), at most ``timeout`` seconds."""
        self._drain(0)
        self._drain(1)
        if self._fds[0] < 0 and self._fds[1] < 0:
            return True
        self._watch_pipes()
        if self._pipes_done is None:
            self._pipes_done = self.loop.create_future()
        await asyncio.wait([self._pipes_done], timeout=max(0.0, timeout))
        return self._fds[0] < 0 and self._fds[1] < 0

    # ------------------------------------------------------------------ exit

    def _watch_exit(self) -> None:
        if PIDFD:
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
        self._stop_pipe_timer()  # what is left in the pipes is read by pipes_closed()
        self._exit_seen = True
        if not self._exited.done():
            self._exited.set_result(None)

    async def exited(self) -> None:
        """Wait until the process has ended (it stays a zombie until :meth:`reap`).

        One caller at a time; cancelling it leaves the process running (:meth:`close` kills
        it), and a later call waits again."""
        if self._exit_seen:
            return
        if self._exited.done():  # the last waiter was cancelled
            self._exited = self.loop.create_future()
        await self._exited

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
        self._stop_pipe_timer()
        if self.returncode is None:
            self.signal_group(signal.SIGKILL)
            self.returncode = self._wait()
        for i in (0, 1):
            if self._fds[i] >= 0:
                self._drain(i)
                self._close_pipe(i)
        if not self._exit_seen:
            self._on_exit()


def _reap_now(pid: int) -> None:
    """Kill ``pid``'s group and reap it, unless it has been reaped already (Linux)."""
    try:  # (a zombie keeps its group id reserved: WNOWAIT leaves it one)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return  # reaped already (ChildProcess.close): its group id may be someone else's now
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _kill_now(popen: subprocess.Popen[bytes]) -> None:
    if popen.returncode is None:  # once reaped, the group id may belong to someone else
        with contextlib.suppress(OSError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
    for f in (popen.stdout, popen.stderr):
        if f is not None:
            f.close()
