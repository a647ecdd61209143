"""LocalFarm: a supervisor and a few workers as child processes — the one-machine farm.

Used by ``triggerfish run`` and ``triggerfish demo``, and by benchmarks and end-to-end tests::

    with LocalFarm(workers=2, slots=2) as farm:      # temporary data dir, free port
        client = farm.client()
        ...
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

import triggerfish
from triggerfish.auth.tokens import local_token_path, read_token_file
from triggerfish.client.client import Client
from triggerfish.errors import ClientError, TriggerfishError

# Variables of the child commands' options: a LocalFarm passes its own values, so the caller's
# environment (e.g. TRIGGERFISH_DB pointing at a production farm) must not leak into them.
_OPTION_ENV = (
    "TRIGGERFISH_URL",
    "TRIGGERFISH_DB",
    "TRIGGERFISH_BIND",
    "TRIGGERFISH_PORT",
    "TRIGGERFISH_DATA_DIR",
    "TRIGGERFISH_HOST_TIMEOUT",
    "TRIGGERFISH_LOG_LEVEL",
    "TRIGGERFISH_LOG_FORMAT",
    "TRIGGERFISH_WORKER_SLOTS",
    "TRIGGERFISH_WORKER_NAME",
    "TRIGGERFISH_WORKER_GROUPS",
    "TRIGGERFISH_WORKER_CLUSTER",
    "TRIGGERFISH_WORKER_PROPERTIES",
    "TRIGGERFISH_ALLOW_PICKLE",
    "TRIGGERFISH_METRICS_PUBLIC",
    "TRIGGERFISH_TOKEN",  # the farm's children use the farm's own token
    "TRIGGERFISH_WORKER_TOKEN",
    "TRIGGERFISH_CHECK",
    "TRIGGERFISH_CHECK_INTERVAL",
    "TRIGGERFISH_JOBTYPES",
)


QUICK_DEATH = 10.0  # a worker that dies sooner than this after its start is restarted later
RESTART_MIN = 1.0  # the first delay before restarting such a worker, doubled each time
RESTART_MAX = 60.0


class Revival(NamedTuple):
    """A worker found dead by :meth:`LocalFarm.revive`: its exit code, and in how many
    seconds it is started again (0: at once)."""

    name: str
    code: int | None
    delay: float


def free_port(bind: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((bind, 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    """The environment of the children: ours, minus option variables, importing this package."""
    env = {k: v for k, v in os.environ.items() if k not in _OPTION_ENV}
    src = str(Path(triggerfish.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
    return "\n".join(text[-lines:])


class LocalFarm:
    """A supervisor plus ``workers`` workers of ``slots`` slots each, as child processes.

    ``data_dir`` None: a temporary directory, removed on stop. ``port`` 0: a free port.
    ``log_level`` and ``log_format`` are the children's (``--log-level``, ``--log-format``).
    ``capture_output``: the children's output goes to ``<data_dir>/farm-logs/NAME.log``
    instead of this process's terminal. Stopping sends SIGTERM to the workers, then to the
    supervisor, and SIGKILL to any child still alive ``grace`` seconds later.
    ``properties``: host properties of each worker, in order (``--property``), e.g.
    ``[{"gpu": "a100"}, {}]``. ``worker_args``: more options of each worker, in order
    (e.g. ``[["--check", "test -e /ok"], []]``).
    """

    def __init__(
        self,
        workers: int = 2,
        slots: int = 1,
        data_dir: str | Path | None = None,
        port: int = 0,
        db_url: str | None = None,
        host_timeout: float = 30.0,
        *,
        bind: str = "127.0.0.1",
        log_level: str = "warning",
        log_format: str = "text",
        capture_output: bool = True,
        startup_timeout: float = 60.0,
        grace: float = 10.0,
        allow_pickle: bool = False,
        metrics_public: bool = False,
        properties: Sequence[Mapping[str, Any]] = (),
        worker_args: Sequence[Sequence[str]] = (),
    ) -> None:
        if workers < 0 or slots < 1:
            raise TriggerfishError("a local farm needs workers ≥ 0 and slots ≥ 1")
        self.worker_count = workers
        self.slots = slots
        self._temp_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else Path(".")
        self.port = port or free_port(bind)
        self.bind = bind
        self.db_url = db_url
        self.host_timeout = host_timeout
        self.log_level = log_level
        self.log_format = log_format
        self.capture_output = capture_output
        self.startup_timeout = startup_timeout
        self.grace = grace
        self.allow_pickle = allow_pickle
        self.metrics_public = metrics_public
        self.properties = list(properties)
        self.worker_args = [list(a) for a in worker_args]
        host = socket.gethostname()
        self.worker_names = [f"{host}-w{i}" for i in range(1, workers + 1)]
        self.supervisor: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._stopped: set[int] = set()
        self._spawned: dict[str, float] = {}  # when each worker was last started (monotonic)
        self._delays: dict[str, float] = {}  # its restart delay, doubled by each quick death
        self._due: dict[str, float] = {}  # a dead worker's restart time (monotonic)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "") else self.bind
        if ":" in host:
            host = "[::1]" if host == "::" else f"[{host}]"
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"LocalFarm({self.url!r}, workers={self.worker_count}, slots={self.slots})"

    @property
    def token(self) -> str | None:
        """The farm's admin token (made by its supervisor in the data dir), once it exists."""
        return read_token_file(local_token_path(self.data_dir))

    def client_env(self) -> dict[str, str]:
        """The variables that point the CLI, ``Client`` and ``qb`` at this farm (its URL, and
        its data dir, where they find its admin token)."""
        return {"TRIGGERFISH_URL": self.url, "TRIGGERFISH_DATA_DIR": str(self.data_dir)}

    def client(self, timeout: float = 30.0) -> Client:
        return Client(self.url, token=self.token, timeout=timeout)

    def log_path(self, name: str) -> Path | None:
        """Where the output of child ``name`` ("supervisor" or a worker name) goes."""
        return self.data_dir / "farm-logs" / f"{name}.log" if self.capture_output else None

    # ------------------------------------------------------------------ starting

    def __enter__(self) -> LocalFarm:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalFarm:
        """Start the supervisor and wait until it answers; then the workers, until registered.
        A farm already running is left as it is (``with farm.start():`` starts it once)."""
        if self.supervisor is not None and self.supervisor.poll() is None:
            return self
        if self._temp_dir:
            self.data_dir = Path(tempfile.mkdtemp(prefix="triggerfish-farm-"))
        if not self.data_dir.exists():  # it will hold the admin token: owner only
            self.data_dir.mkdir(parents=True, mode=0o700)
        try:
            self.supervisor = self._spawn("supervisor", self._supervisor_args())
            self._wait_supervisor()
            for name in self.worker_names:
                self.workers.append(self._spawn_worker(name))
            self._wait_workers()
        except BaseException:
            self.stop()
            raise
        return self

    def _supervisor_args(self) -> list[str]:
        args = ["supervisor", "--bind", self.bind, "--port", str(self.port)]
        args += ["--data-dir", str(self.data_dir), "--host-timeout", str(self.host_timeout)]
        args += ["--log-level", self.log_level, "--log-format", self.log_format]
        args += ["--allow-pickle"] if self.allow_pickle else []
        args += ["--metrics-public"] if self.metrics_public else []
        return args + (["--db", self.db_url] if self.db_url else [])

    def _spawn_worker(self, name: str) -> subprocess.Popen[bytes]:
        token = {"TRIGGERFISH_WORKER_TOKEN": self.token or ""}  # not on the command line
        self._spawned[name] = time.monotonic()
        return self._spawn(name, self._worker_args(name), token)

    def _worker_args(self, name: str) -> list[str]:
        i = self.worker_names.index(name)
        props = self.properties[i] if i < len(self.properties) else {}
        own = [a for k, v in props.items() for a in ("--property", f"{k}={json.dumps(v)}")]
        own += self.worker_args[i] if i < len(self.worker_args) else []
        return ["worker", "--supervisor", self.url, "--name", name, "--slots", str(self.slots),
                "--log-level", self.log_level, "--log-format", self.log_format,
                "--data-dir", str(self.data_dir), *own]  # fmt: skip

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        out: IO[bytes] | None = None
        path = self.log_path(name)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            out = path.open("ab")
            self._logs.append(out)
        return subprocess.Popen(
            [sys.executable, "-m", "triggerfish", *args],
            env={**child_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            start_new_session=os.name == "posix",  # Ctrl-C reaches us only; we stop them in order
        )

    def _died(self, name: str, proc: subprocess.Popen[bytes]) -> TriggerfishError:
        tail = _tail(self.log_path(name))
        where = f"; its last output:\n{tail}" if tail else ""
        return TriggerfishError(f"{name} exited with code {proc.returncode}{where}")

    def _wait_supervisor(self) -> None:
        assert self.supervisor is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.supervisor.poll() is not None:
                raise self._died("supervisor", self.supervisor)
            try:
                with Client(self.url, token=self.token or "-", timeout=2.0) as probe:
                    probe.hosts()  # the token file exists once the supervisor is up
                return
            except ClientError as exc:
                if time.monotonic() > deadline:
                    raise TriggerfishError(
                        f"the supervisor did not answer at {self.url} within "
                        f"{self.startup_timeout:g} s: {exc.message}"
                    ) from exc
            time.sleep(0.1)

    def _wait_workers(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        wanted = set(self.worker_names)
        with self.client(timeout=5.0) as probe:
            while wanted:
                for name, proc in zip(self.worker_names, self.workers, strict=True):
                    if proc.poll() is not None:
                        raise self._died(name, proc)
                up = {h["name"] for h in probe.hosts() if h.get("state") == "active"}
                wanted -= up
                if wanted and time.monotonic() > deadline:
                    raise TriggerfishError(
                        f"workers {', '.join(sorted(wanted))} did not register within "
                        f"{self.startup_timeout:g} s"
                    )
                if wanted:
                    time.sleep(0.1)

    # ------------------------------------------------------------------ running, stopping

    def check(self) -> list[str]:
        """Names of children that exited on their own; raises if the supervisor did."""
        sup = self.supervisor
        if sup is not None and sup.poll() is not None and sup.pid not in self._stopped:
            raise self._died("supervisor", sup)
        return [
            name
            for name, proc in zip(self.worker_names, self.workers, strict=False)
            if proc.poll() is not None and proc.pid not in self._stopped
        ]

    def revive(self) -> list[Revival]:
        """Restart the workers that died on their own (not stopped by this farm). Each one's
        host is marked down first, so that its running work goes to other hosts at once. A
        worker that keeps dying soon after it starts is restarted after a delay that doubles
        (up to a minute); what this call did is returned, a worker once per death."""
        now = time.monotonic()
        out = []
        for i, (name, proc) in enumerate(zip(self.worker_names, self.workers, strict=False)):
            if proc.poll() is not None and proc.pid not in self._stopped:
                self._stopped.add(proc.pid)  # (seen: reported once)
                self.mark_down(name)
                delay = self._restart_delay(name, now)
                self._due[name] = now + delay
                out.append(Revival(name, proc.returncode, delay))
            due = self._due.get(name)
            if due is not None and now >= due:
                del self._due[name]
                self.workers[i] = self._spawn_worker(name)
        return out

    def _restart_delay(self, name: str, now: float) -> float:
        quick = now - self._spawned.get(name, 0.0) < QUICK_DEATH
        delay = min(RESTART_MAX, max(RESTART_MIN, 2 * self._delays.get(name, 0.0))) if quick else 0
        self._delays[name] = delay
        return delay

    def mark_down(self, name: str) -> bool:
        """Mark host ``name`` down now (its worker is dead); False if the supervisor did not
        take it (it never registered, or does not answer)."""
        try:
            with self.client(timeout=5.0) as c:
                c.host_down(name)
        except ClientError:
            return False
        return True

    def restart_worker(self, index: int) -> None:
        """SIGKILL worker ``index`` if it runs, then start it again under the same name."""
        self.kill_worker(index)
        self.workers[index] = self._spawn_worker(self.worker_names[index])

    def kill_supervisor(self) -> None:
        """SIGKILL the supervisor, as a crash would (for failure tests)."""
        if self.supervisor is not None and self.supervisor.poll() is None:
            self._stopped.add(self.supervisor.pid)
            self.supervisor.kill()
            self.supervisor.wait()

    def restart_supervisor(self) -> None:
        """Start the supervisor again on the same port, data dir and database."""
        self.kill_supervisor()
        self.supervisor = self._spawn("supervisor", self._supervisor_args())
        self._wait_supervisor()

    def kill_worker(self, index: int) -> None:
        """SIGKILL one worker, as a crash would (its guardian then kills its commands)."""
        proc = self.workers[index]
        if proc.poll() is None:
            self._stopped.add(proc.pid)
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        """Stop the workers, then the supervisor; remove a temporary data dir. Idempotent."""
        self._terminate(self.workers)
        if self.supervisor is not None:
            self._terminate([self.supervisor])
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._temp_dir and self.data_dir.name.startswith("triggerfish-farm-"):
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _terminate(self, procs: list[subprocess.Popen[bytes]]) -> None:
        alive = [p for p in procs if p.poll() is None]
        self._stopped.update(p.pid for p in procs)
        for proc in alive:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        try:
            for proc in alive:
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        except KeyboardInterrupt:  # a second Ctrl-C: no more grace
            for proc in alive:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
