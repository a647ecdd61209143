"""Host locks and host properties end to end: real supervisor and workers.

A locked host gets no new work (its running item finishes, the instance goes on elsewhere),
the lock survives a restart of the supervisor, unlock gives it work again; only an admin may
lock. A worker's ``--property`` / ``TRIGGERFISH_PROPERTIES`` show in ``hosts`` and the API,
with the Qube-named facts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner
from farms import StartFarm

from triggerfish import qb
from triggerfish.cli.local import LocalFarm, child_env
from triggerfish.cli.main import cli
from triggerfish.client.client import Client
from triggerfish.errors import ClientError


def cli_run(farm: LocalFarm, *args: str, token: str | None = None) -> Any:
    """``triggerfish ARGS`` in-process, with the farm's admin token (or ``token``)."""
    env = {**farm.client_env(), "TRIGGERFISH_TOKEN": token, "TRIGGERFISH_JSON": None,
           "COLUMNS": "250"}  # fmt: skip
    return CliRunner().invoke(cli, list(args), env=env)


def job(name: str, frames: str, seconds: float, cpus: int = 1) -> dict[str, Any]:
    return {"name": name, "cpus": cpus,
            "package": {"cmdline": f"sleep {seconds}", "range": frames}}  # fmt: skip


def hosts_of(c: Client, job_id: int) -> dict[str, str]:
    """Agenda item -> the host it ran on."""
    return {w["name"]: w["host"] for w in c.job(job_id)["agenda"]}


def running_on(c: Client, job_id: int, timeout: float = 20.0) -> str:
    """The host the job's first item runs on, once it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w in c.job(job_id)["agenda"]:
            if w["status"] == "running" and w["host"]:
                return str(w["host"])
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never ran")


def host(c: Client, name: str) -> dict[str, Any]:
    return next(h for h in c.hosts() if h["name"] == name)


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_a_locked_host_gets_no_new_work_across_a_restart_until_unlocked(
    start_farm: StartFarm, db_url: str
) -> None:
    farm = start_farm(db_url, workers=2, slots=1)
    with farm.client() as c:
        [a] = c.submit([job("a", "1-3", 1.0)])
        locked = running_on(c, a["id"])
        [other] = [n for n in farm.worker_names if n != locked]
        result = cli_run(farm, "host", "lock", locked)
        assert result.exit_code == 0, result.output
        assert f"host {locked} is locked" in result.output
        [b] = c.submit([job("b", "1-4", 0.1, cpus=2)])
        assert c.wait([a["id"], b["id"]], timeout=60) == {a["id"]: "complete", b["id"]: "complete"}
        ran = hosts_of(c, a["id"])
        assert ran["1"] == locked  # the running item finished there
        assert ran["2"] == ran["3"] == other  # the instance went on elsewhere
        assert set(hosts_of(c, b["id"]).values()) == {other}
        info = host(c, locked)
        assert info["locked"] and info["locked_by"] and info["locked_at"]
        events = [e for e in c.all_events() if e["type"] == "host" and e["host"] == locked]
        assert [e["name"] for e in events if e["name"] in ("lock", "unlock")] == ["lock"]

    farm.restart_supervisor()
    with farm.client() as c:
        assert host(c, locked)["locked"]  # stored
        [d] = c.submit([job("d", "1-2", 0.1)])
        assert c.wait([d["id"]], timeout=60) == {d["id"]: "complete"}
        assert set(hosts_of(c, d["id"]).values()) == {other}
        assert not c.unlock_host(locked)["locked"]
        [e] = c.submit([job("e", "1-4", 0.5, cpus=2)])
        assert c.wait([e["id"]], timeout=60) == {e["id"]: "complete"}
        assert locked in set(hosts_of(c, e["id"]).values())  # it gets work again
        assert not host(c, locked)["locked"]


# ---------------------------------------------------------------- one farm for the rest


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    data = tmp_path_factory.mktemp("hostlock") / "farm"
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIGGERFISH_PROPERTIES", "gpu=a100,site=lon")  # the farm's workers inherit it
    try:
        with LocalFarm(workers=1, slots=2, data_dir=data, grace=5.0) as f:
            yield f
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def bob(farm: LocalFarm) -> str:
    """The token of a user who may submit, not administer."""
    result = cli_run(farm, "users", "add", "bob", "--perm=submit", "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["token"])


def test_only_an_admin_locks_and_unknown_hosts_are_404(farm: LocalFarm, bob: str) -> None:
    name = farm.worker_names[0]
    with Client(farm.url, token=bob) as c:
        for verb in (c.lock_host, c.unlock_host):
            with pytest.raises(ClientError) as refused:
                verb(name)
            assert refused.value.status == 403
    refused_cli = cli_run(farm, "host", "lock", name, token=bob)
    assert refused_cli.exit_code != 0
    with farm.client() as c:
        with pytest.raises(ClientError) as missing:
            c.lock_host("no-such-host")
        assert missing.value.status == 404
        assert not host(c, name)["locked"]


def test_lock_twice_is_one_lock_and_shows_everywhere(farm: LocalFarm) -> None:
    name = farm.worker_names[0]
    with farm.client() as c:
        first = c.lock_host(name)
        again = c.lock_host(name)
        assert first["locked"] and again["locked_at"] == first["locked_at"]
        listed = cli_run(farm, "hosts")
        assert listed.exit_code == 0, listed.output
        assert "locked by" in listed.output
        with _qb_env(farm):
            [qh] = qb.hostinfo(name)
        assert qh["locks"] == "host.processors=all" and qh["locked"] and qh["state"] == "active"
        unlocked = cli_run(farm, "host", "unlock", name)
        assert unlocked.exit_code == 0 and f"host {name} is unlocked" in unlocked.output
        with _qb_env(farm):
            [qh] = qb.hostinfo(name)
        assert qh["locks"] == "" and not qh["locked"]
        events = [e["name"] for e in c.all_events() if e["type"] == "host" and e["host"] == name]
    assert events.count("lock") == 1 and events.count("unlock") == 1


@contextmanager
def _qb_env(farm: LocalFarm) -> Iterator[None]:
    """qb pointed at the farm (its URL and admin token), for the block."""
    qb.set_url(farm.url, farm.token)
    try:
        yield
    finally:
        qb.set_url(None)


def test_properties_from_the_environment_and_the_option_show_in_hosts(farm: LocalFarm) -> None:
    name = farm.worker_names[0]
    with farm.client() as c:
        facts = host(c, name)["facts"]
    assert facts["host.gpu"] == "a100" and facts["host.site"] == "lon"
    assert facts["host.name"] == name and facts["host.processors"] == 2
    assert 0 < facts["host.memory.avail"] <= facts["host.memory"]
    assert facts["host.processor.avail"] == 2 and facts["host.os"] == sys.platform[:5]

    env = {**child_env(), "TRIGGERFISH_WORKER_TOKEN": farm.token or ""}
    env.pop("TRIGGERFISH_PROPERTIES", None)
    args = ["worker", "--supervisor", farm.url, "--name", "extra", "--slots", "1",
            "--property", "gpu=h100", "--property", "vram=80",
            "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "triggerfish", *args], env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        with farm.client() as c:
            deadline = time.monotonic() + 20
            while not any(h["name"] == "extra" for h in c.hosts()):
                assert time.monotonic() < deadline, "the extra worker never registered"
                time.sleep(0.1)
            extra = host(c, "extra")
        assert extra["properties"]["gpu"] == "h100" and extra["facts"]["host.vram"] == 80
        listed = cli_run(farm, "hosts")
        assert "gpu=h100" in listed.output and "site=lon" in listed.output
    finally:
        proc.terminate()
        proc.wait(timeout=10)
