"""Requirements and hostorder end to end: a real supervisor, two workers with different
properties, real HTTP and the CLI (issue 17, item 2, the job side)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from farms import StartFarm

from triggerfish.cli.local import LocalFarm
from triggerfish.cli.main import cli

CMD = "sleep 0.05; echo frame QB_FRAME_NUMBER"


def _job(**fields: Any) -> dict[str, Any]:
    return {"name": "r", "package": {"cmdline": CMD, "range": "1-6"}, **fields}


def _hosts_of(c: Any, job_id: int) -> set[str]:
    return {w["host"] for w in c.job(job_id)["agenda"]}


def _farm(start_farm: StartFarm, db_url: str) -> LocalFarm:
    return start_farm(db_url, workers=2, slots=1, properties=[{"gpu": "a100", "speed": 1},
                                                             {"speed": 2}])  # fmt: skip


def test_requirements_place_every_item_and_say_why_a_job_waits(
    start_farm: StartFarm, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = _farm(start_farm, db_url)
    a100, plain = farm.worker_names
    with farm.client() as c:
        [gpu] = c.submit([_job(cpus=2, requirements="host.gpu=a100")])
        [mem] = c.submit([_job(cpus=2, requirements="host.speed>=2 && host.memory.avail>0")])
        [never] = c.submit([_job(requirements="host.gpu=h100 || host.speed > 10")])
        final = c.wait([gpu["id"], mem["id"]], timeout=60)
        assert set(final.values()) == {"complete"}
        assert _hosts_of(c, gpu["id"]) == {a100}
        assert _hosts_of(c, mem["id"]) == {plain}
        detail = c.job(never["id"])
        assert detail["status"] == "pending"
        assert detail["todotally"]["pending"] == 6
        assert detail["reason"] == "no host matches requirements host.gpu=h100 || host.speed > 10"
    auth = {"Authorization": f"Bearer {farm.token}"}
    page = httpx.get(f"{farm.url}/jobs/{never['id']}", headers=auth, timeout=30)
    assert page.status_code == 200, page.text
    assert "no host matches requirements host.gpu=h100" in page.text  # the web page
    for key, value in farm.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRIGGERFISH_JSON", raising=False)
    out = CliRunner().invoke(cli, ["job", str(never["id"])])
    assert out.exit_code == 0, out.output
    assert "no host matches requirements host.gpu=h100" in out.output
    out = CliRunner().invoke(cli, ["submit", "--requirements", "host.gpu=", "--", "true"])
    assert out.exit_code != 0
    assert "requirements: expected a host fact or a value" in out.output
    assert "at column 10" in out.output
    args = ["submit", "--requirements", "host.gpu=a100", "--hostorder", "-host.speed", "--", "true"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    with farm.client() as c:
        job_id = int(out.stdout.split()[0])
        assert c.wait([job_id], timeout=30)[job_id] == "complete"
        assert {s["host"] for s in c.job(job_id)["subjobs"]} == {a100}


def test_bad_requirements_and_hostorder_are_refused_naming_the_field(
    start_farm: StartFarm,
) -> None:
    farm = start_farm(None, workers=0)
    auth = {"Authorization": f"Bearer {farm.token}"}
    with httpx.Client(base_url=farm.url + "/api/v1", headers=auth, timeout=30) as h:
        r = h.post("/jobs", json=[_job(), _job(requirements="host.gpu=a100 && (host.os=linux")])
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["field"] == "jobs[1].requirements"
        assert err["message"] == (
            "jobs[1].requirements: expected ')', got end of expression at column 32"
        )
        r = h.post("/jobs", json=[_job(hostorder="+host.speed,speed")])
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "jobs[0].hostorder"
        assert "column 13" in r.json()["error"]["message"]
        assert h.get("/jobs").json()["jobs"] == []  # nothing of either submission stored


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_hostorder_picks_among_idle_hosts(start_farm: StartFarm) -> None:
    farm = _farm(start_farm, None)
    slow, fast = farm.worker_names
    with farm.client() as c:
        for order, host in (("+host.speed", fast), ("-host.speed", slow), ("host.speed", fast)):
            time.sleep(0.3)  # both workers idle again, their pulls waiting
            [job] = c.submit([_job(hostorder=order)])
            assert c.wait([job["id"]], timeout=30)[job["id"]] == "complete"
            assert _hosts_of(c, job["id"]) == {host}, order
