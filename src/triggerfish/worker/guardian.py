"""The guardian: a small process per worker that ends the worker's commands when it dies.

The worker starts it (``python -I -S guardian.py LIFE STATE_FILE DEATH_FD``, standard library
only, so it starts in a few milliseconds and imports nothing of the worker's) with one end of a
``socketpair`` as its stdin. For each command it starts the worker sends ``+PGID`` (with the
read ends of the command's output pipes attached, on Linux), and ``-PGID`` when the command has
ended. The guardian does not wake up for each message (a wake-up of another process costs the
sender more than the message): it blocks on ``DEATH_FD``, the read end of a pipe the worker
never writes to, and reads the queued messages every :data:`DRAIN_EVERY` seconds. When the
worker dies, by any means (SIGKILL, the OOM killer, a crash), the kernel closes the worker's end
of that pipe and the guardian reads end-of-file. It then reads what is left on the socket and:

1. sends SIGKILL to every process group still recorded (a command and everything it started
   that stayed in its group: grandchildren included);
2. sends SIGKILL to every process whose environment carries this life's mark
   (``TRIGGERFISH_WORKER_LIFE=LIFE``, which the worker puts in every command's environment) and
   to its group: a command started in the microseconds before the worker recorded it, and
   descendants that left their group (``setsid``, daemons), are found this way (Linux: /proc);
3. removes the state file and exits.

Holding the read ends of the output pipes means that a command that keeps printing after the
worker died does not get EPIPE/SIGPIPE before the guardian kills it: its writes at most block
until the SIGKILL, which comes at once. Every process of a dead worker's commands therefore
ends the same way, by the guardian's SIGKILL, milliseconds after the worker.

The guardian ignores SIGINT, SIGTERM and SIGHUP (it lives in a session of its own): it ends
when the worker does. It keeps ``STATE_FILE`` (JSON: the life, the worker's pid and start time,
the recorded groups with their start times) up to date, written atomically at most every
:data:`WRITE_EVERY` seconds; a worker restarted under the same name reads it to end what its
previous life left when the guardian died too (:func:`end_previous_life`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Iterable
from typing import Any

LIFE_ENV = "TRIGGERFISH_WORKER_LIFE"
WRITE_EVERY = 0.25  # seconds between two writes of the state file
DRAIN_EVERY = 0.05  # seconds between two reads of the worker's messages
PASSES = 5  # scans for marked processes (one may fork while the previous one is killed)
RECV_SIZE = 4096
MAX_FDS = 4


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, Linux), None if unknown or gone."""
    fields = _stat(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def group_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[2]) if fields is not None and len(fields) > 2 else None


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (field 3 on)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()  # the name may hold spaces and ')'


def marked(life: str) -> list[int]:
    """Our processes whose environment carries the mark of ``life`` (Linux; [] elsewhere)."""
    needle = f"{LIFE_ENV}={life}\0".encode()
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    me = os.getpid()
    found = []
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:  # gone, or another user's
            continue
        if env.startswith(needle) or b"\0" + needle in env:
            found.append(int(name))
    return found


def _kill(pid: int, group: bool) -> bool:
    if pid <= 1 or (group and pid == os.getpgrp()):
        return False
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    except OSError:
        return False
    return True


def kill_life(life: str | None, groups: Iterable[int]) -> int:
    """SIGKILL ``groups``, then every process marked with ``life`` and its group; the number
    of signals that reached someone."""
    hits = sum(_kill(g, True) for g in set(groups))
    if life is None:
        return hits
    for n in range(PASSES):
        pids = marked(life)
        if not pids:
            break
        for pid in pids:
            pgid = group_of(pid)
            hits += _kill(pid, False) + (_kill(pgid, True) if pgid is not None else 0)
        time.sleep(0.01 * (n + 1))  # let the killed ones exit before looking again
    return hits


# ---------------------------------------------------------------------- the state file


def read_state(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def write_state(path: str, state: dict[str, Any]) -> None:
    """Replace ``path`` atomically (a crash leaves the old file or the new one)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        print(f"triggerfish guardian: cannot write {path}: {exc}", file=sys.stderr)


def end_previous_life(path: str, life: str) -> tuple[int, str | None]:
    """End what an earlier life of this worker (``path``'s, not ``life``) left running.

    Only groups whose leader still has the recorded start time are killed (a pid that came
    round again is someone else's), plus the processes marked with that life. Nothing is done
    while the worker of that life is still alive (a second worker of the same name): its pid
    is returned as the reason. Returns (signals sent, reason nothing was done)."""
    state = read_state(path)
    if state is None or state.get("life") in (None, life):
        return 0, None
    worker, began = state.get("worker"), state.get("worker_start")
    if isinstance(worker, int) and began is not None and start_time(worker) == began:
        return 0, f"its previous life (pid {worker}) is still running"
    groups = []
    for entry in state.get("groups") or []:
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int):
            pgid, began = entry
            if began is not None and start_time(pgid) == began:
                groups.append(pgid)
    old = state.get("life")
    return kill_life(str(old) if old else None, groups), None


# ---------------------------------------------------------------------- the process


class Guardian:
    """The loop of the guardian process: record groups until end-of-file, then kill."""

    def __init__(self, sock: socket.socket, life: str, path: str | None, death: int) -> None:
        self.sock = sock
        self.death = death
        self.life = life
        self.path = path
        self.groups: dict[int, tuple[int | None, list[int]]] = {}  # pgid → (start, fds)
        self.buffer = b""
        self.dirty = path is not None
        self.written = 0.0
        worker = os.getppid()
        self.state = {"life": life, "worker": worker, "worker_start": start_time(worker)}

    def run(self) -> None:
        while self._serve():
            pass
        kill_life(self.life, self.groups)
        for _, fds in self.groups.values():
            for fd in fds:
                os.close(fd)
        self.groups.clear()
        path = self.path
        if path is not None and (read_state(path) or {}).get("life") == self.life:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _serve(self) -> bool:
        """Wait a while (or for the worker's death), read its messages, write the state file
        when it is due; False once the worker has gone."""
        died, _, _ = select.select([self.death], [], [], DRAIN_EVERY)
        if not self._drain() or died:
            return False
        if self.dirty and time.monotonic() >= self.written + WRITE_EVERY:
            self._write()
        return True

    def _drain(self) -> bool:
        """Read every queued message; False at end-of-file (the worker has gone)."""
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, RECV_SIZE, MAX_FDS)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            self._handle(data, fds)

    def _handle(self, data: bytes, fds: list[int]) -> None:
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        for line in lines:
            try:
                pgid = int(line[1:])
            except ValueError:
                continue
            if line.startswith(b"+"):
                self.groups[pgid] = (start_time(pgid), fds)
                fds = []
            elif line.startswith(b"-"):
                _, held = self.groups.pop(pgid, (None, []))
                for fd in held:
                    os.close(fd)
            self.dirty = self.path is not None
        for fd in fds:  # (not attached to a '+')
            os.close(fd)

    def _write(self) -> None:
        assert self.path is not None
        groups = [[g, began] for g, (began, _) in self.groups.items() if began is not None]
        write_state(self.path, {**self.state, "groups": groups})
        self.dirty = False
        self.written = time.monotonic()


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    life, path, death = argv[1], (argv[2] or None), int(argv[3])
    sock = socket.socket(fileno=0)  # the worker's socketpair, as our stdin
    sock.setblocking(False)
    Guardian(sock, life, path, death).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
