"""``triggerfish logs`` end to end: both streams, one stream, following a running item, and the
distinct errors of a job or item that does not exist or has not started (real farm, real HTTP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from triggerfish.cli.local import LocalFarm, child_env
from triggerfish.cli.main import cli
from triggerfish.client.errors import ClientError
from triggerfish.client.logs import error_code

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def module_pg_url() -> Iterator[str]:
    """A PostgreSQL schema for the module's farm (``pg_url``, once per module)."""
    base = os.environ.get(
        "TRIGGERFISH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    try:
        eng = sa.create_engine(base, connect_args={"connect_timeout": 3})
        with eng.begin() as conn:
            schema = "tf_" + uuid.uuid4().hex[:12]
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {base}: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {base}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with eng.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    eng.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def farm(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalFarm]:
    db_url = None if request.param == "sqlite" else request.getfixturevalue("module_pg_url")
    data = tmp_path_factory.mktemp("farm")
    with LocalFarm(workers=1, slots=2, data_dir=data, db_url=db_url, grace=5) as local:
        yield local


@pytest.fixture
def tf(farm: LocalFarm, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``triggerfish ARGS...`` in-process against the farm."""
    for key, value in farm.client_env().items():
        monkeypatch.setenv(key, value)
    for key in ("TRIGGERFISH_JSON", "TRIGGERFISH_TOKEN", "TRIGGERFISH_LOGS_STREAM"):
        monkeypatch.delenv(key, raising=False)

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args))

    return run


def submit(tf: Any, *args: str) -> int:
    result = tf("submit", *args)
    assert result.exit_code == 0, result.output
    [jid] = [int(line) for line in result.stdout.split()]
    return jid


def test_both_streams_by_default_and_one_on_demand(tf: Any) -> None:
    jid = submit(tf, "--range", "1", "--wait", "--",
                 "echo to-out QB_FRAME_NUMBER; echo to-err QB_FRAME_NUMBER >&2")  # fmt: skip
    both = tf("logs", f"{jid}:1")
    assert both.exit_code == 0, both.output
    out = both.stdout
    assert f"==> {jid}:1 stdout <==" in out and f"==> {jid}:1 stderr <==" in out
    assert out.index("stdout <==") < out.index("to-out 1") < out.index("stderr <==")
    assert out.index("stderr <==") < out.index("to-err 1")
    assert "=== attempt " in out  # each attempt's output starts with its line
    err = tf("logs", f"{jid}:1", "--stream", "stderr")
    assert err.exit_code == 0 and "to-err 1" in err.stdout
    assert "to-out" not in err.stdout and "<==" not in err.stdout
    out_only = tf("logs", f"{jid}:1", "--stream", "stdout")
    assert "to-out 1" in out_only.stdout and "to-err" not in out_only.stdout


def test_stream_from_the_environment(tf: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    jid = submit(tf, "--wait", "--", "echo out-line; echo err-line >&2")
    monkeypatch.setenv("TRIGGERFISH_LOGS_STREAM", "stderr")
    result = tf("logs", f"{jid}.0")
    assert "err-line" in result.stdout and "out-line" not in result.stdout


def test_distinct_errors(tf: Any, farm: LocalFarm) -> None:
    done = submit(tf, "--range", "1-2", "--wait", "--", "true")
    blocked = submit(tf, "--range", "1-2", "--status", "blocked", "--", "true")
    nothing = tf("logs", "99999:1")
    assert nothing.exit_code == 1 and "no such job 99999" in nothing.stderr
    item = tf("logs", f"{done}:7")
    assert item.exit_code == 1 and f"job {done} has no item 7" in item.stderr
    instance = tf("logs", f"{done}.5")
    assert instance.exit_code == 1 and f"job {done} has no instance 5" in instance.stderr
    waiting = tf("logs", f"{blocked}:1")
    assert waiting.exit_code == 1
    why = f"item {blocked}:1 has not started yet (it is pending; job {blocked} is blocked)"
    assert why in waiting.stderr
    silent = tf("logs", f"{done}:2")  # ran, printed nothing
    assert silent.exit_code == 0 and silent.stdout == ""
    assert f"item {done}:2 printed nothing" in silent.stderr
    with farm.client() as c:  # the API's codes
        codes = []
        for jid, name in ((99999, "1"), (done, "7"), (blocked, "1")):
            with pytest.raises(ClientError) as info:
                c.log(jid, name)
            assert info.value.status == 404
            codes.append(error_code(info.value))
        assert codes == ["no_such_job", "no_such_item", "not_started"]
        assert c.log(done, "2") == "" and c.log(done, "2", "stderr") == ""
        with pytest.raises(ClientError) as info:
            c.job(99999)
        assert error_code(info.value) == "no_such_job"
    assert tf("kill", str(blocked)).exit_code == 0
    never = tf("logs", f"{blocked}:1", "--follow")  # ended without running: nothing to follow
    assert never.exit_code == 1 and f"item {blocked}:1 never ran (it is killed)" in never.stderr


def _follower(farm: LocalFarm, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "triggerfish", "logs", *args],
        env={**child_env(), **farm.client_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_until(stream: IO[str], needle: str) -> str:
    seen = ""
    while needle not in seen:
        line = stream.readline()
        assert line, f"the follower ended before printing {needle!r}: {seen!r}"
        seen += line
    return seen


def test_follow_prints_new_output_until_the_item_ends(
    tf: Any, farm: LocalFarm, tmp_path: Path
) -> None:
    flag = tmp_path / "go-on"
    jid = submit(tf, "--range", "1", "--",
                 f"echo first; while [ ! -e {flag} ]; do sleep 0.05; done; "
                 "echo second >&2; echo third")  # fmt: skip
    follower = _follower(farm, f"{jid}:1", "-f")
    try:
        assert follower.stdout is not None
        seen = _read_until(follower.stdout, "first")
        assert json.loads(tf("work", f"{jid}:1", "--json").stdout)["status"] == "running"
        flag.touch()  # the item writes the rest only now
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    seen += out
    assert follower.returncode == 0, err
    assert f"==> {jid}:1 stderr <==" in seen and "second" in seen and "third" in seen
    assert json.loads(tf("work", f"{jid}:1", "--json").stdout)["status"] == "complete"


def test_follow_waits_for_an_item_to_start(tf: Any, farm: LocalFarm) -> None:
    jid = submit(tf, "--range", "1", "--status", "blocked", "--", "echo at-last >&2")
    follower = _follower(farm, f"{jid}:1", "--follow", "--stream", "stderr")
    try:
        assert follower.stderr is not None
        note = follower.stderr.readline()
        assert f"item {jid}:1 has not started yet" in note and "waiting" in note
        assert tf("unblock", str(jid)).exit_code == 0
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert "at-last" in out and "<==" not in out


@pytest.mark.slow
def test_follow_rides_through_a_supervisor_restart(
    tf: Any, farm: LocalFarm, tmp_path: Path
) -> None:
    flag = tmp_path / "go-on"
    wait = f"while [ ! -e {flag} ]; do sleep 0.05; done"
    jid = submit(tf, "--range", "1", "--", f"echo before; {wait}; echo after")
    follower = _follower(farm, f"{jid}:1", "-f", "--stream", "stdout")
    try:
        assert follower.stdout is not None
        seen = _read_until(follower.stdout, "before")
        farm.restart_supervisor()
        flag.touch()
        out, err = follower.communicate(timeout=120)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert "after" in seen + out
    assert "Traceback" not in err and "error" not in err.lower()


def test_worker_log_lines_name_job_item_host_and_attempt(tmp_path: Path) -> None:
    """The worker's own log (text format) shows the fields of a failed attempt's line."""
    with LocalFarm(workers=1, data_dir=tmp_path / "farm", log_level="info", grace=5) as farm:
        with farm.client() as c:
            [j] = c.submit({"name": "fails", "package": {"cmdline": "exit 3", "range": "7"}})
            assert c.wait(j["id"], timeout=60) == {j["id"]: "failed"}
        name = farm.worker_names[0]
        path = farm.log_path(name)
        assert path is not None
        [line] = [ln for ln in path.read_text().splitlines() if "action=attempt_end" in ln]
    assert f"action=attempt_end job={j['id']} item=7 instance=0 host={name} attempt=" in line
    assert "exit_code=3" in line
