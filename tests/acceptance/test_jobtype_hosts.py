"""Job types through a real supervisor's HTTP API (issue 18, the supervisor's side): a worker
registers the job types it offers, ``GET /hosts``, ``qb.hostinfo`` and ``triggerfish hosts``
show them; a job of a type no host offers waits with that reason (API, CLI); ``qb.submit``
with ``qb.Work`` items carrying packages, the items handed out with their package, reports
answered with ``ended``, and ``qb.jobinfo(agenda=True)`` returning packages and result
packages. The worker side does not exist here yet: the test speaks the worker protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from farms import StartFarm

import triggerfish.qb as qb
from triggerfish.cli.local import LocalFarm
from triggerfish.cli.main import cli
from triggerfish.client import ClientError


@pytest.fixture
def farm(start_farm: StartFarm, db_url: str) -> Iterator[LocalFarm]:
    f = start_farm(db_url, workers=0)
    qb.set_url(f.url, f.token)
    yield f
    qb.set_url(None)


def _cli(farm: LocalFarm, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    for key, value in farm.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRIGGERFISH_JSON", raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # (rich cuts what does not fit)
    out = CliRunner().invoke(cli, list(args))
    assert out.exit_code == 0, out.output
    return str(out.output)


def _post(h: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = h.post(path, json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_hosts_offer_job_types_and_items_carry_their_packages(
    farm: LocalFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = {"Authorization": f"Bearer {farm.token}"}
    with httpx.Client(base_url=f"{farm.url}/api/v1", headers=auth, timeout=30) as h:
        reg = _post(h, "/workers/register",
                    {"name": "render", "slots": 1, "jobtypes": ["qbfutures", "nuke"]})  # fmt: skip
        [host] = [x for x in h.get("/hosts").json()["hosts"] if x["name"] == "render"]
        assert host["jobtypes"] == ["nuke", "qbfutures"]
        assert qb.hostinfo("render")[0]["jobtypes"] == ["nuke", "qbfutures"]
        assert "jobtypes=nuke,qbfutures" in _cli(farm, monkeypatch, "hosts")

        job = qb.Job(name="calls", prototype="qbfutures", package={"python": "3"})
        job["agenda"] = [qb.Work(name="0", package={"args": [3, 2]}),
                         qb.Work(name="1", package={"args": [2, 5]})]  # fmt: skip
        [calls] = qb.submit(job)
        [maya] = qb.submit(qb.Job(name="m", prototype="maya2024", package={"range": "1-2"}))
        reason = "no host offers job type maya2024"
        assert h.get(f"/jobs/{maya['id']}").json()["reason"] == reason
        assert reason in _cli(farm, monkeypatch, "job", str(maya["id"]))

        session = reg["session"]
        [a] = _post(h, "/workers/render/pull", {"session": session, "wait": 0})["assignments"]
        assert (a["job"], a["prototype"], a["work"]) == (calls["id"], "qbfutures", "0")
        assert (a["package"], a["work_package"]) == ({"python": "3"}, {"args": [3, 2]})
        report = {"token": a["token"], "status": "complete", "exit_code": 0,
                  "result": {"value": 9}}  # fmt: skip
        got = _post(h, "/workers/render/report", {"session": session, "reports": [report]})
        [b] = got["assignments"]
        assert (b["work"], b["work_package"], got["ended"]) == ("1", {"args": [2, 5]}, {})
        report = {"token": b["token"], "status": "complete", "exit_code": 0,
                  "result": {"value": 32}}  # fmt: skip
        got = _post(h, "/workers/render/report", {"session": session, "reports": [report]})
        assert (got["assignments"], got["ended"]) == ([], {b["token"]: "complete"})

    [info] = qb.jobinfo(id=calls["id"], agenda=True)
    assert info["status"] == "complete"
    assert [(w["name"], w["package"], w["resultpackage"]) for w in info["agenda"]] == [
        ("0", {"args": [3, 2]}, {"value": 9}), ("1", {"args": [2, 5]}, {"value": 32})]  # fmt: skip
    shown = _cli(farm, monkeypatch, "work", f"{calls['id']}:1")
    assert "args" in shown and "value" in shown


def test_a_job_file_carries_item_packages_and_bad_ones_are_refused(
    farm: LocalFarm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "calls.yaml"
    path.write_text(
        "prototype: qbfutures\nagenda:\n  - {name: a, package: {args: [1, 2]}}\n  - b\n"
    )
    [sub] = json.loads(_cli(farm, monkeypatch, "submit", "--file", str(path), "--json"))
    with farm.client() as c:
        agenda = c.job(sub["id"])["agenda"]
    assert [(w["name"], w["package"]) for w in agenda] == [("a", {"args": [1, 2]}), ("b", {})]
    with farm.client() as c, pytest.raises(ClientError, match=r"jobs\[0\]\.agenda\[1\]\.package"):
        c.submit([{"prototype": "x", "agenda": ["0", {"name": "1", "package": [1]}]}])
    with farm.client() as c, pytest.raises(ClientError, match=r"jobs\[0\]\.prototype"):
        c.submit([{"prototype": "no such/type", "package": {}}])


def test_a_register_with_a_bad_job_type_name_is_refused_naming_it(farm: LocalFarm) -> None:
    auth = {"Authorization": f"Bearer {farm.token}"}
    with httpx.Client(base_url=f"{farm.url}/api/v1", headers=auth, timeout=30) as h:
        for bad in ["x" * 65, "has space", ""]:
            body = {"name": "badtypes", "slots": 1, "jobtypes": ["nuke", bad]}
            r = h.post("/workers/register", json=body)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["field"] == "jobtypes[1]", r.text
        assert "badtypes" not in [x["name"] for x in h.get("/hosts").json()["hosts"]]
