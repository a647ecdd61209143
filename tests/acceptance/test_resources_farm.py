"""Reservations and global resources end to end: a real supervisor and workers, real HTTP and
the CLI (issue 17, item 3). Each command writes when it starts and ends; the intervals show
what ran at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from farms import StartFarm

from triggerfish.cli.local import LocalFarm
from triggerfish.cli.main import cli


def _stamped(log: Path, seconds: float = 0.4) -> str:
    """A command that appends 'start JOB FRAME t' and 'end JOB FRAME t' lines to ``log``."""
    stamp = 'python3 -c "import time; print(time.time())"'
    return (
        f'echo "start $QBJOBID $QB_FRAME_NUMBER $({stamp})'
        f' ${{TRIGGERFISH_PROCESSORS:-1}}" >> {log};'
        f" sleep {seconds};"
        f' echo "end $QBJOBID $QB_FRAME_NUMBER $({stamp})" >> {log}'
    )


def _intervals(log: Path) -> list[tuple[float, float, str, str]]:
    starts: dict[tuple[str, str], tuple[float, str]] = {}
    out = []
    for line in log.read_text().splitlines():
        kind, job, frame, t, *rest = line.split()
        if kind == "start":
            starts[(job, frame)] = (float(t), rest[0])
        else:
            begun, procs = starts.pop((job, frame))
            out.append((begun, float(t), job, procs))
    assert not starts, starts
    return sorted(out)


def _overlaps(spans: list[tuple[float, float, str, str]]) -> list[Any]:
    """The spans (sorted by start) that start before every earlier one has ended."""
    out, ended = [], 0.0
    for span in spans:
        if span[0] < ended:
            out.append(span)
        ended = max(ended, span[1])
    return out


def _cli(farm: LocalFarm, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    for key, value in farm.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRIGGERFISH_JSON", raising=False)
    out = CliRunner().invoke(cli, list(args))
    assert out.exit_code == 0, out.output
    return out.output


@pytest.mark.slow  # 6 s a store: CI runs it (.ci/run); `python -m pytest -m slow`
def test_two_jobs_holding_the_only_license_never_run_at_once(
    start_farm: StartFarm, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIGGERFISH_RESOURCES", "maya=1, nuke=3")  # the supervisor's option
    farm = start_farm(db_url, workers=2, slots=2)
    log = tmp_path / "stamps.log"
    job = {"package": {"cmdline": _stamped(log), "range": "1-3"}, "cpus": 2,
           "reservations": "global.maya=1"}  # fmt: skip
    with farm.client() as c:
        first, second = c.submit([{**job, "name": "a"}, {**job, "name": "b"}])
        ids = [first["id"], second["id"]]
        waited = ""
        for _ in range(200):
            detail = c.job(second["id"])
            if detail["status"] == "pending" and detail["reason"]:
                waited = detail["reason"]
                break
        assert waited == "waiting for global.maya (1 of 1 in use)"
        listed = {r["name"]: r for r in c.resources()}
        assert listed["maya"]["total"] == 1 and listed["nuke"]["total"] == 3
        assert c.wait(ids, timeout=90) == {ids[0]: "complete", ids[1]: "complete"}
        assert [r["used"] for r in c.resources()] == [1 - 1, 0]
    spans = _intervals(log)
    assert len(spans) == 6
    assert _overlaps(spans) == []  # one license: one frame at a time, farm-wide
    out = _cli(farm, monkeypatch, "resources")
    assert "maya" in out and "nuke" in out
    out = _cli(farm, monkeypatch, "resources", "set", "maya", "2")
    assert "maya: 2 (0 in use, 2 free)" in out
    [row] = [r for r in json.loads(_cli(farm, monkeypatch, "resources", "--json"))
             if r["name"] == "maya"]  # fmt: skip
    assert row["total"] == 2 and row["changed_by"]


@pytest.mark.slow  # 4 s a store: CI runs it (.ci/run); `python -m pytest -m slow`
def test_two_processor_reservation_runs_one_item_at_a_time_on_a_two_slot_host(
    start_farm: StartFarm, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = start_farm(db_url, workers=1, slots=2)
    log = tmp_path / "stamps.log"
    out = _cli(farm, monkeypatch, "submit", "--cpus", "2", "--range", "1-4",
               "--reservations", "host.processors=2", "--", _stamped(log, 0.3))  # fmt: skip
    job_id = int(out.split()[0])
    with farm.client() as c:
        assert c.wait([job_id], timeout=60)[job_id] == "complete"
        assert c.job(job_id)["fields"]["reservations"] == "host.processors=2"
    spans = _intervals(log)
    assert len(spans) == 4
    assert _overlaps(spans) == []
    assert {procs for *_, procs in spans} == {"2"}  # TRIGGERFISH_PROCESSORS


def test_resources_api_answers_and_refuses_naming_the_field(
    start_farm: StartFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = start_farm(None, workers=0)
    auth = {"Authorization": f"Bearer {farm.token}"}
    with httpx.Client(base_url=farm.url + "/api/v1", headers=auth, timeout=30) as h:
        r = h.put("/resources/houdini", json={"total": 4})
        assert r.status_code == 200, r.text
        assert r.json()["available"] == 4
        r = h.put("/resources/houdini", json={"total": -1})
        assert r.status_code == 422 and "total" in r.text
        r = h.put("/resources/bad name", json={"total": 1})
        assert r.status_code == 422 and "name" in r.text
        r = h.post("/jobs", json=[{"package": {"cmdline": "true"},
                                   "reservations": "global.houdni=1"}])  # fmt: skip
        assert r.status_code == 422
        assert "jobs[0].reservations" in r.text and "houdni" in r.text
        r = h.post("/jobs", json=[{"package": {"cmdline": "true"},
                                   "reservations": "host.processors=two"}])  # fmt: skip
        assert r.status_code == 422 and "column 1" in r.text
        assert h.get("/jobs").json()["jobs"] == []
        assert h.delete("/resources/houdini").status_code == 200
        assert h.delete("/resources/houdini").status_code == 404
        assert h.get("/resources").json() == {"resources": []}
    for key, value in farm.client_env().items():
        monkeypatch.setenv(key, value)
    args = ["submit", "--reservations", "host.processors=2,,global.maya=1", "--", "true"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code != 0
    assert "reservations: an empty item at column 19" in out.output
    out = CliRunner().invoke(cli, ["resources", "set", "maya", "-3"])
    assert out.exit_code != 0 and "COUNT" in out.output
    with farm.client() as c:
        assert c.jobs() == [] and c.resources() == []  # nothing stored
