"""The worker's side of its guardian (:mod:`triggerfish.worker.guardian`).

:class:`Guard` starts the guardian process, tells it about each command (``add`` after the
spawn, ``forget`` before the reap) and starts another if it ever dies. Its :attr:`Guard.env`
goes into the environment of every command and task process: the mark by which the guardian
also finds what left its process group. :meth:`Guard.start` first ends what a previous life of
this worker left running (its state file, keyed by worker name and supervisor URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from triggerfish.worker import guardian
from triggerfish.worker.guardian import LIFE_ENV

logger = logging.getLogger(__name__)

# fds travel with the messages on Linux (SOCK_SEQPACKET); elsewhere a stream of lines
PASS_FDS = sys.platform == "linux"
SOCK_TYPE = socket.SOCK_SEQPACKET if PASS_FDS else socket.SOCK_STREAM
SEND_TIMEOUT = 2.0  # a guardian this slow to read is taken for dead, and replaced
STOP_TIMEOUT = 5.0
FORGET_AFTER = 0.05  # ends wait this long to go with the next start (one wake-up, not two)


def state_file(state_dir: Path, name: str, url: str) -> Path:
    """The state file of the worker ``name`` of the supervisor at ``url``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]
    digest = hashlib.sha256(f"{name}\0{url}".encode()).hexdigest()[:12]
    return state_dir / f"worker-{safe}-{digest}.json"


class Guard:
    """Keeps a guardian process alive next to the worker and tells it about each command."""

    def __init__(self, state_path: Path | None = None) -> None:
        self.life = secrets.token_hex(8)
        self.state_path = state_path
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._live: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._ended = b""  # "-PGID" lines not sent yet
        self._flush: asyncio.TimerHandle | None = None
        self._alive = -1  # the write end of the guardian's death pipe

    @property
    def env(self) -> dict[str, str]:
        """The mark of this life, for the environment of commands and task processes."""
        return {LIFE_ENV: self.life}

    @property
    def pid(self) -> int | None:
        """The guardian's pid while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """End what a previous life left, then start the guardian (call in the loop)."""
        self._loop = asyncio.get_running_loop()
        if self.state_path is not None:
            self._end_previous_life(self.state_path)
        self._spawn()

    def _end_previous_life(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            logger.warning(
                "cannot keep the worker's state in %s (%s): a restart cannot end what a "
                "crashed worker left running",
                path.parent,
                exc,
                extra={"action": "guard_state"},
            )
            self.state_path = None
            return
        killed, refused = guardian.end_previous_life(str(path), self.life)
        if refused is not None:
            logger.warning(
                "not ending the commands of this worker's previous life: %s",
                refused,
                extra={"action": "guard_previous_life"},
            )
        elif killed:
            logger.warning(
                "ended %d process(es) or group(s) left by this worker's previous life",
                killed,
                extra={"action": "guard_previous_life"},
            )

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, SOCK_TYPE)
        death, self._alive = os.pipe()  # we never write: EOF when we die
        path = str(self.state_path or "")
        argv = [sys.executable, "-I", "-S", guardian.__file__, self.life, path, str(death)]
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(death,),
            )
        except (OSError, ValueError) as exc:  # (ValueError: no pass_fds on this system)
            ours.close()
            os.close(self._alive)
            self._alive = -1
            logger.error(
                "cannot start the guardian (%s): commands may outlive this worker",
                exc,
                extra={"action": "guard_start"},
            )
            return
        finally:
            theirs.close()
            os.close(death)
        ours.settimeout(SEND_TIMEOUT)
        self._sock = ours
        if self._loop is not None:
            self._loop.add_reader(ours.fileno(), self._guardian_gone)
        for pgid in self._live:  # a new guardian after one died: what runs now
            self._send(b"+%d\n" % pgid, ())

    def _guardian_gone(self) -> None:
        """The guardian's end of the socket closed (it never writes): it died. Replace it."""
        self._drop("it ended")

    def _close_alive(self) -> None:
        if self._alive >= 0:
            os.close(self._alive)
            self._alive = -1

    def _detach(self) -> subprocess.Popen[bytes] | None:
        """Close the link to the guardian; its process, to stop or wait for."""
        sock, proc = self._sock, self._proc
        self._sock = self._proc = None
        self._close_alive()
        if sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        return proc

    def _drop(self, why: str) -> None:
        proc = self._detach()
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1.0)
        if self._closing:
            return
        logger.warning(
            "the guardian of this worker's commands is gone (%s); starting another",
            why,
            extra={"action": "guard_restart"},
        )
        self._spawn()

    def add(self, pgid: int, fds: Sequence[int] = ()) -> None:
        """The command in process group ``pgid`` (its output pipes' read ends: ``fds``) runs."""
        if self._sock is None:
            return
        self._live.add(pgid)
        data, self._ended = self._ended + b"+%d\n" % pgid, b""
        self._send(data, fds)

    def forget(self, pgid: int) -> None:
        """The command of ``pgid`` has ended (call before reaping it: the pid is still ours)."""
        if self._sock is None:
            return
        try:
            self._live.remove(pgid)
        except KeyError:
            return
        self._ended += b"-%d\n" % pgid
        if self._flush is None and self._loop is not None:
            self._flush = self._loop.call_later(FORGET_AFTER, self._send_ended)

    def _send_ended(self) -> None:
        """Send the ends that no start took along. (An end that is late costs nothing: the
        guardian acts only when the worker dies, and a pid does not come round in 50 ms.)"""
        self._flush = None
        data, self._ended = self._ended, b""
        if data and self._sock is not None:
            self._send(data, ())

    def _send(self, data: bytes, fds: Sequence[int]) -> None:
        sock = self._sock
        assert sock is not None
        try:
            if fds and PASS_FDS:
                socket.send_fds(sock, [data], list(fds))
            else:
                sock.sendall(data)
        except OSError as exc:
            self._drop(f"{type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        """Stop the guardian (it ends any process still recorded or marked)."""
        self._closing = True
        if self._flush is not None:
            self._flush.cancel()
        proc = self._detach()
        if proc is not None:
            try:
                await asyncio.to_thread(proc.wait, STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
