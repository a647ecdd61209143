"""Bounds (item 9 of issue 15): the request body limit, items per job, agenda pages, ids and
offsets beyond what the store holds — against a real supervisor over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from farms import StartFarm

import triggerfish.qb as qb
from triggerfish.cli.local import LocalFarm

MB = 1024 * 1024
HUGE = 2**63


def http(farm: LocalFarm) -> httpx.Client:
    return httpx.Client(
        base_url=farm.url + "/api/v1", headers={"Authorization": f"Bearer {farm.token}"},
        timeout=120,
    )  # fmt: skip


def error_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text[:500]
    err: dict[str, Any] = resp.json()["error"]
    return err


def chunks(total: int, size: int = MB) -> Iterator[bytes]:
    """A body with no content-length (chunked)."""
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


# ---------------------------------------------------------------- the body limit


def test_a_50mb_body_is_413_on_app_fast_lane_and_worker_routes(start_farm: StartFarm) -> None:
    farm = start_farm(None, workers=0)
    rss = psutil.Process(farm.supervisor.pid)  # type: ignore[union-attr]
    before = rss.memory_info().rss
    notes = b'[{"name": "big", "notes": "' + b"x" * (50 * MB) + b'"}]'
    task = b'{"target": "os:getcwd", "params": "' + b"x" * (50 * MB) + b'"}'
    with http(farm) as c:
        for path, body in (("/jobs", notes), ("/tasks", task), ("/tasks/many", task),
                           ("/workers/h1/report", task), ("/workers/register", task)):  # fmt: skip
            err = error_of(c.post(path, content=body), 413)
            assert err["code"] == "too_large" and err["field"] == "body", err
            assert str(16 * MB) in err["message"]
            # without a content-length: counted as it arrives
            err = error_of(c.post(path, content=chunks(50 * MB)), 413)
            assert err["code"] == "too_large", (path, err)
        assert c.get("/jobs").json() == {"jobs": []}  # nothing was stored
        # a body under the limit is served as ever (on the same connection)
        small = {"name": "small", "notes": "x" * MB, "package": {"cmdline": "true"}}
        ok = c.post("/jobs", json=[small])
        assert ok.status_code == 201, ok.text
    # the bodies were not held: far less than one 50 MB body more
    assert rss.memory_info().rss - before < 40 * MB


def test_max_body_option_holds_on_the_fast_path(
    start_farm: StartFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A limit under 256 KiB holds on the fast path's routes too: a body over it is answered
    413; the supervisor reads TRIGGERFISH_MAX_BODY."""
    monkeypatch.setenv("TRIGGERFISH_MAX_BODY", "1K")
    farm = start_farm(None, workers=0)
    with http(farm) as c:
        small = c.post("/tasks", json={"target": "os:getcwd", "params": "x" * 500})
        assert small.status_code == 201, small.text
        err = error_of(c.post("/tasks", json={"target": "os:getcwd", "params": "x" * 2000}), 413)
        assert "1024 bytes" in err["message"]
        err = error_of(c.post("/tasks", content=chunks(2000, 100)), 413)
        assert err["field"] == "body"


def test_max_body_option_refuses_a_size_that_is_not_one() -> None:
    cmd = [sys.executable, "-m", "triggerfish", "supervisor", "--max-body", "lots", "--port", "1"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "'lots' is not a size" in run.stderr, run.stderr


# ---------------------------------------------------------------- items per job


def test_too_many_frames_are_refused_naming_the_field(start_farm: StartFarm) -> None:
    farm = start_farm(None, workers=0)
    with http(farm) as c:
        for rng in ("1-1000001", "1-1000000000000000000", "1-600000,700000-1100000"):
            job = {"name": "big", "package": {"cmdline": "true", "range": rng}}
            err = error_of(c.post("/jobs", json=[job]), 422)
            assert err["field"] == "jobs[0].package.range", err
            assert "1,000,000 frames" in err["message"]
        err = error_of(c.post("/jobs", json=[{"name": "big", "agenda": "1-2000000",
                                              "package": {"cmdline": "true"}}]), 422)  # fmt: skip
        assert err["field"] == "jobs[0].agenda"
        assert c.get("/jobs").json() == {"jobs": []}


# ---------------------------------------------------------------- agenda pages, ids, offsets


@pytest.mark.pg
def test_agenda_pages_and_bounded_ids_and_offsets(
    start_farm: StartFarm, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm = start_farm(db_url, workers=0)
    client = farm.client()
    jid = client.submit({"name": "frames", "package": {"cmdline": "true", "range": "1-2500"}})[0]
    jid = jid["id"]
    with http(farm) as c:
        detail = c.get(f"/jobs/{jid}").json()
        assert [w["name"] for w in detail["agenda"]] == [str(i) for i in range(1, 1001)]
        assert detail["agenda_truncated"] is True and detail["todo"] == 2500
        assert detail["todotally"]["pending"] == 2500
        page = c.get(f"/jobs/{jid}/work", params={"offset": 2000, "limit": 1000}).json()
        assert page["total"] == 2500 and page["offset"] == 2000 and page["limit"] == 1000
        assert [w["name"] for w in page["work"]] == [str(i) for i in range(2001, 2501)]
        assert c.get(f"/jobs/{jid}/work", params={"offset": 2500}).json()["work"] == []
        assert error_of(c.get(f"/jobs/{jid}/work", params={"limit": 10_001}), 422)["field"] == (
            "limit"
        )
        error_of(c.get("/jobs/999999/work"), 404)
        # offsets and ids beyond what the store holds: 422 naming them, never 500 or 503
        for path, params, field in (
            ("/jobs", {"offset": HUGE}, "offset"),
            ("/jobs", {"offset": -1}, "offset"),
            ("/jobs", {"pgrp": HUGE}, "pgrp"),
            (f"/jobs/{jid}/work", {"offset": HUGE}, "offset"),
            ("/events", {"after": HUGE}, "after"),
            ("/events", {"job": HUGE}, "job"),
            (f"/jobs/{HUGE}", {}, "job_id"),
            (f"/jobs/{10**30}/work", {}, "job_id"),
            (f"/tasks/{HUGE}", {}, "task_id"),
            (f"/schedules/{HUGE}", {}, "schedule_id"),
        ):
            err = error_of(c.get(path, params=params), 422)
            assert err["field"] == field, (path, err)
        assert c.get("/jobs", params={"offset": 2**31 - 1}).json() == {"jobs": []}
        error_of(c.get(f"/jobs/{2**31 - 1}"), 404)
    # the client, the CLI and qb read the whole agenda, a page at a time
    assert [w["name"] for w in client.job(jid)["agenda"]] == [str(i) for i in range(1, 2501)]
    part = client.job(jid, agenda_limit=1200)
    assert len(part["agenda"]) == 1200 and part["agenda_truncated"] is True
    assert sum(1 for _ in client.agenda(jid)) == 2500
    env = {**farm.client_env(), "PYTHONPATH": ":".join(sys.path)}
    cli = [sys.executable, "-m", "triggerfish", "job", str(jid)]
    out = subprocess.run([*cli, "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert len(json.loads(out.stdout)["agenda"]) == 2500, out.stderr
    out = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert "2450 more of 2500 items" in out.stdout, out.stdout[-2000:]
    qb.set_url(farm.url, farm.token)
    try:
        assert len(qb.jobinfo(id=jid, agenda=True)[0]["agenda"]) == 2500
        assert len(qb.jobinfo("-pgrp", jid, "-agenda")[0]["agenda"]) == 2500
    finally:
        qb.set_url(None)


@pytest.mark.slow
@pytest.mark.pg
def test_reading_a_million_frame_job_keeps_the_supervisor_bounded(
    start_farm: StartFarm, db_url: str
) -> None:
    """Reading a 1,000,000-frame job (its detail, then every page of its agenda) does not
    grow the supervisor by 300 MB (the whole agenda through one answer did by over 500 MB)."""
    farm = start_farm(db_url, workers=0)
    client = farm.client(timeout=300)
    job = {"name": "million", "package": {"cmdline": "true", "range": "1-1000000"}}
    jid = client.submit(job)[0]["id"]
    proc = psutil.Process(farm.supervisor.pid)  # type: ignore[union-attr]
    assert client.job(jid, agenda=False)["todo"] == 1_000_000
    base = proc.memory_info().rss
    peak = base
    with http(farm) as c:
        for _ in range(3):
            detail = c.get(f"/jobs/{jid}")
            assert detail.status_code == 200 and len(detail.json()["agenda"]) == 1000
            peak = max(peak, proc.memory_info().rss)
    seen = 0
    for page in client.agenda_pages(jid):
        seen += len(page)
        peak = max(peak, proc.memory_info().rss)
    assert seen == 1_000_000
    assert peak - base < 300 * MB, f"the supervisor grew by {(peak - base) // MB} MB"
