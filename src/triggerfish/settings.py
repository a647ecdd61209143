"""Settings shared by the commands: data dir, database URL, supervisor URL."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from triggerfish.errors import TriggerfishError

DEFAULT_PORT = 8765
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_MAX_BODY = 16 * 1024 * 1024  # bytes of one request body (--max-body)


def default_data_dir() -> Path:
    env = os.environ.get("TRIGGERFISH_DATA_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("triggerfish"))


def make_data_dir(path: Path) -> None:
    """The data dir holds the database, logs and the admin token: owner only (0700). Made so;
    an existing one that others may read or enter is tightened, with a log line; one that
    cannot be (another user's) refuses the start, saying why."""
    try:
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise TriggerfishError(
            f"cannot make the data dir {str(path)!r}: {exc.strerror or exc}", field="data_dir"
        ) from exc
    if not mode & 0o077:
        return
    try:
        path.chmod(0o700)
    except OSError as exc:
        raise TriggerfishError(
            f"the data dir {str(path)!r} (mode {mode:04o}) lets other users read the database, "
            f"logs and admin token, and cannot be made owner only: {exc.strerror or exc}; "
            f"'chmod 700 {path}' as its owner, or choose another --data-dir",
            field="data_dir",
        ) from exc
    logging.getLogger(__name__).warning(
        "data dir %s was mode %04o: tightened to 0700 (owner only)", path, mode,
        extra={"action": "data_dir.tighten"},
    )  # fmt: skip


def default_db_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'triggerfish.db'}"


def supervisor_url(url: str | None = None) -> str:
    return (url or os.environ.get("TRIGGERFISH_URL") or DEFAULT_URL).rstrip("/")


@dataclass
class ServerSettings:
    data_dir: Path
    db_url: str | None = None  # None: the SQLite file in data_dir
    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    host_timeout: float = 30.0
    log_level: str = "info"
    log_format: str = "text"  # of the log lines on stderr: a key of logfmt.FORMATTERS
    callback_timeout: float = 60.0
    callback_memory_mb: int = 1024
    callback_workers: int = 4
    callback_user: str | None = None  # OS user callback code runs as (None: ours)
    universal_callback_path: str | None = None  # comma-separated; None: <data dir>/callback
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = ""  # empty: triggerfish@<this host>
    smtp_tls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    gc_freeze_every: float = 10.0  # seconds; 0: Python's default garbage collection
    gc_full_every: float = 600.0  # seconds between full collections (with freezing on)
    allow_pickle: bool = False  # task params and triggerfish.futures calls may be pickles
    retention: float = 0.0  # seconds after which finished jobs (and the like) go; 0: never
    max_body: int = DEFAULT_MAX_BODY  # bytes; a bigger request body is answered 413
    metrics_public: bool = False  # GET /metrics answers without a token
    preempt: str = "passive"  # or "aggressive": running items of less urgent jobs too
    # global resources (licenses) defined at start: ``--resource maya=5`` (engine.resources)
    resources: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Where this supervisor answers, as seen from this host (for callback runs)."""
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::", "") else self.bind
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def universal_dirs(self) -> list[Path]:
        """The directories of universal callbacks (``universal_callback_path``)."""
        if self.universal_callback_path is None:
            return [self.data_dir / "callback"]
        return [Path(p.strip()).expanduser() for p in self.universal_callback_path.split(",")
                if p.strip()]  # fmt: skip

    @property
    def database(self) -> str:
        return self.db_url or default_db_url(self.data_dir)
