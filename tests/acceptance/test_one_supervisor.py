"""One supervisor per database, start-up errors in a line or two, the probes, the data dir:
real supervisor processes on SQLite and PostgreSQL."""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from farms import StartFarm

from triggerfish import TriggerfishError, __version__
from triggerfish.cli.local import LocalFarm, child_env, free_port
from triggerfish.settings import make_data_dir
from triggerfish.store.db import open_engine


def supervise(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``triggerfish supervisor ARGS`` to its end (a start that fails)."""
    return subprocess.run(
        [sys.executable, "-m", "triggerfish", "supervisor", *args],
        env=child_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def short_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """A start refused with exit code 1 and one or two lines naming the cause."""
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr
    return proc.stderr


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_a_second_supervisor_on_the_same_database_is_refused_and_the_first_serves_on(
    start_farm: StartFarm, db_url: str, tmp_path: Path
) -> None:
    farm = start_farm(db_url, workers=0)
    assert farm.supervisor is not None
    with farm.client() as c:
        c.submit([{"name": "before", "package": {"cmdline": "true"}}])
        before = c.all_events()
    second = supervise("--db", db_url, "--data-dir", str(tmp_path / "second"),
                       "--port", str(free_port()))  # fmt: skip
    line = short_error(second, "already served by the supervisor",
                       f"on host {socket.gethostname()}, pid {farm.supervisor.pid}, "
                       f"at {farm.url} (since ")  # fmt: skip
    assert len(line.strip().splitlines()) == 1
    with farm.client() as c:
        assert c.all_events() == before  # the second changed nothing
        job = c.submit([{"name": "after", "package": {"cmdline": "true"}}])[0]
        assert c.job(job["id"])["name"] == "after"  # and the first serves on
    farm.restart_supervisor()  # a holder that died (SIGKILL) leaves the lock free at once
    with farm.client() as c:
        assert c.job(job["id"])["name"] == "after"


def test_the_same_command_twice_names_the_first_not_the_port(start_farm: StartFarm) -> None:
    """The default database of one data dir, and the same port: the lock is taken first."""
    farm = start_farm(None, workers=0)
    assert farm.supervisor is not None
    second = supervise("--data-dir", str(farm.data_dir), "--port", str(farm.port))
    short_error(second, f"already served by the supervisor on host {socket.gethostname()}, "
                        f"pid {farm.supervisor.pid}, at {farm.url}")  # fmt: skip
    with farm.client() as c:
        assert c.hosts() == []


def test_a_supervisor_that_loses_its_postgresql_lock_stops(
    start_farm: StartFarm, pg_url: str
) -> None:
    farm = start_farm(pg_url, workers=0)
    assert farm.supervisor is not None
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            session = conn.execute(
                sa.text("SELECT session FROM supervisors WHERE role = 'active'")
            ).scalar_one()
            ended = conn.execute(sa.text("SELECT pg_terminate_backend(:s)"), {"s": session})
            assert ended.scalar_one() is True
    finally:
        engine.dispose()
    assert farm.supervisor.wait(timeout=60) == 1
    log = farm.log_path("supervisor")
    assert log is not None and "lost the database lock" in log.read_text()
    farm.restart_supervisor()  # the database itself is fine: a new start serves it
    with farm.client() as c:
        assert c.hosts() == []


def test_a_supervisor_whose_sqlite_lock_file_is_removed_stops(
    start_farm: StartFarm, tmp_path: Path
) -> None:
    db = tmp_path / "tf.db"
    farm = start_farm(f"sqlite:///{db}", workers=0)
    assert farm.supervisor is not None
    lock = Path(f"{db}.lock")
    assert f'"pid": {farm.supervisor.pid}' in lock.read_text()  # it says who holds it
    lock.unlink()  # a second supervisor could lock a new file now: the first must stop
    assert farm.supervisor.wait(timeout=60) == 1
    log = farm.log_path("supervisor")
    assert log is not None and "lost the database lock (the lock file" in log.read_text()


def test_an_unreachable_database_is_one_line_and_its_trace_at_debug_level(
    tmp_path: Path,
) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/test"
    args = ("--db", url, "--data-dir", str(tmp_path / "d"), "--port", str(free_port()))
    short_error(supervise(*args), "cannot reach database", "Connection refused")
    debug = supervise(*args, "--log-level", "debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_port_in_use_is_one_line_before_the_database_is_touched(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "d"
        proc = supervise("--data-dir", str(data), "--port", str(port))
    short_error(proc, f"cannot listen on 127.0.0.1 port {port}", "--port")
    assert not (data / "triggerfish.db").exists()  # no migration, no engine


def test_a_failed_migration_is_one_line(db_url: str, tmp_path: Path) -> None:
    engine = open_engine(db_url)
    with engine.begin() as conn:  # as if a newer triggerfish had written it
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    proc = supervise("--db", db_url, "--data-dir", str(tmp_path / "d"), "--port", str(free_port()))
    short_error(proc, "cannot bring database", "'9999'", "newer triggerfish")


def test_a_start_that_fails_in_the_app_is_a_line_too(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir(mode=0o700)
    (data / "admin.token").mkdir()  # where the supervisor keeps its token
    args = ("--data-dir", str(data), "--port", str(free_port()))
    short_error(supervise(*args, "--log-level", "warning"), "admin.token holds no token")
    debug = supervise(*args, "--log-level", "debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


@contextmanager
def store_away(db_url: str) -> Iterator[None]:
    """The store out of reach of the supervisor's reads: the SQLite file moved away, the
    PostgreSQL schema renamed; then back."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        path.rename(path.with_suffix(".away"))
        try:
            yield
        finally:
            path.with_suffix(".away").rename(path)
        return
    match = re.search(r"search_path%3D(\w+)", db_url)
    assert match is not None
    schema = match.group(1)
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_away"'))
        try:
            yield
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"'))
    finally:
        engine.dispose()


def test_the_probes_answer_without_a_token(start_farm: StartFarm, db_url: str) -> None:
    farm = start_farm(db_url, workers=0)
    with httpx.Client(base_url=f"{farm.url}/api/v1", timeout=30) as h:
        for headers in ({}, {"Authorization": "Bearer tf_not-a-token"}):
            health = h.get("/health", headers=headers)
            assert health.status_code == 200, health.text
            assert health.json() == {"status": "ok", "version": __version__, "role": "active",
                                     "allow_pickle": False}  # fmt: skip
            ready = h.get("/ready", headers=headers)
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ready"
        assert h.get("/jobs").status_code == 401  # the rest still needs a token
        with store_away(db_url):
            ready = h.get("/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["error"]["code"] == "store_unavailable"
            assert str(farm.token) not in ready.text and "postgres" not in ready.text
            assert h.get("/health").status_code == 200  # alive, not ready
        assert h.get("/ready").status_code == 200


def test_an_open_data_dir_is_made_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "open"
    data.mkdir()
    os.chmod(data, 0o755)
    with LocalFarm(workers=0, data_dir=data, grace=5.0) as farm:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        log = farm.log_path("supervisor")
        assert log is not None and "was mode 0755: tightened to 0700" in log.read_text()


def test_a_data_dir_that_cannot_be_made_owner_only_refuses_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "shared"
    data.mkdir()
    os.chmod(data, 0o755)

    def not_owner(_path: Path, _mode: int) -> None:  # as for a dir of another user
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(Path, "chmod", not_owner)
    with pytest.raises(TriggerfishError, match=r"mode 0755\).*cannot be made owner only: Oper"):
        make_data_dir(data)
