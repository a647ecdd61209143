"""``GET /metrics`` on a real farm: parsed with prometheus_client's parser, its counts checked
against the API's own answers; its token rule; the Grafana dashboard's metrics exist."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from farms import StartFarm
from prometheus_client.parser import text_string_to_metric_families

from triggerfish import __version__
from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client
from triggerfish.tasks import Tasks
from triggerfish.triggers.vocabulary import QB_TIME_EPOCH_OFFSET

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"
Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


def scrape(farm: LocalFarm, token: str | None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(f"{farm.url}/metrics", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def nonzero(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(k[1])[label]: v for k, v in samples.items() if k[0] == name and v}


def total(samples: Samples, name: str, **match: str) -> float:
    """The sum of ``name``'s samples whose labels include ``match``."""
    return sum(v for (n, labels), v in samples.items()
               if n == name and match.items() <= dict(labels).items())  # fmt: skip


def _api(c: Client) -> dict[str, Counter[str]]:
    """What the API says: jobs, agenda items and tasks by status, hosts by state."""
    listed = c.jobs()
    return {
        "jobs": Counter(j["status"] for j in listed),
        "items": Counter(w["status"] for j in listed for w in c.job(j["id"])["agenda"]),
        "hosts": Counter(h["state"] for h in c.hosts()),
        "tasks": Counter(t["status"] for t in c.tasks()),
    }


def _settled(c: Client, farm: LocalFarm) -> tuple[Samples, dict[str, Counter[str]], list[Any]]:
    """The API's answers and a scrape between two reads of the event log that agree (nothing
    happened meanwhile)."""
    for _ in range(100):
        before = c.all_events()
        api = _api(c)
        samples = scrape(farm, farm.token)
        after = c.all_events()
        if before == after:
            return samples, api, after
        time.sleep(0.1)
    raise AssertionError("the farm never settled")


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_metrics_match_the_api(start_farm: StartFarm, tasks_app: str, db_url: str) -> None:
    farm = start_farm(db_url, workers=2, slots=1)
    at = int(time.time()) + 2
    timed = {"name": "timed", "package": {"cmdline": "true"}, "status": "blocked",
             "callbacks": [{"triggers": f"dummy-time-self-{at - QB_TIME_EPOCH_OFFSET}",
                            "language": "qube", "code": "unblock-self"}]}  # fmt: skip
    frames = {"name": "frames", "package": {"cmdline": "true", "range": "1-6"}, "cpus": 2,
              "callbacks": [{"triggers": "complete-job-self", "language": "python",
                             "code": "print('done')"}]}  # fmt: skip
    failing = {"name": "failing", "package": {"cmdline": "exit 3", "range": "1-2"}}
    with farm.client() as c, Tasks(c) as tasks:
        jobs = c.submit([timed, frames, failing])
        task = tasks.add(f"{tasks_app}:echo", 1)
        # the same add with a query string: the ASGI fast path, counted under the same route
        raw = httpx.post(f"{farm.url}/api/v1/tasks?via=asgi", timeout=30,
                         headers={"Authorization": f"Bearer {farm.token}"},
                         json={"target": f"{tasks_app}:echo", "params": 2})  # fmt: skip
        assert raw.status_code == 201, raw.text
        ids = [j["id"] for j in jobs] + [task, raw.json()["id"]]
        final = c.wait(ids, timeout=60)
        assert [final[i] for i in ids] == ["complete", "complete", "failed", "complete", "complete"]
        for _ in range(300):  # the python callback's run ends after its job
            if any(e["name"] == "ran" for e in c.all_events()):
                break
            time.sleep(0.1)
        assert httpx.get(f"{farm.url}/api/v1/jobs").status_code == 401
        assert httpx.get(f"{farm.url}/no/such/page").status_code == 404
        samples, api, events = _settled(c, farm)

    assert nonzero(samples, "triggerfish_jobs", "status") == api["jobs"]
    assert api["jobs"] == {"complete": 4, "failed": 1}
    assert nonzero(samples, "triggerfish_work_items", "status") == api["items"]
    assert nonzero(samples, "triggerfish_hosts", "state") == api["hosts"] == {"active": 2}
    assert nonzero(samples, "triggerfish_tasks", "status") == api["tasks"] == {"complete": 2}
    assert nonzero(samples, "triggerfish_events_total", "type") == Counter(
        e["type"] for e in events
    )
    assigned = sum(1 for e in events if e["name"] == "assigned")
    # (items: 6 frames, 2 failing, 2 tasks; the timed job has none: its instance is assigned)
    ran = sum(1 for e in events if e["type"] == "work" and e["name"] == "running")
    assert total(samples, "triggerfish_dispatch_latency_seconds_count") == assigned > ran == 10
    assert total(samples, "triggerfish_commit_seconds_count") >= 1
    assert total(samples, "triggerfish_engine_batch_size_count") >= 1
    assert total(samples, "triggerfish_timer_lateness_seconds_count", kind="time") == 1
    assert total(samples, "triggerfish_callback_runs_total", language="qube",
                 result="complete") == 1  # fmt: skip
    assert total(samples, "triggerfish_callback_runs_total", language="python",
                 result="complete") == 1  # fmt: skip

    http = "triggerfish_http_request_duration_seconds_count"
    assert total(samples, http, route="/api/v1/jobs", method="GET", code="200") >= 1
    assert total(samples, http, route="/api/v1/jobs", method="GET", code="401") == 1
    assert total(samples, http, route="other", code="404") == 1
    assert total(samples, http, route="/api/v1/tasks", method="POST", code="201") == 2
    assert total(samples, http, route="/api/v1/workers/register", code="200") == 2
    worker = total(samples, http, route="/api/v1/workers/{host}/pull")
    worker += total(samples, http, route="/api/v1/workers/{host}/report")
    assert worker >= ran
    assert total(samples, http, route="/api/v1/jobs/{job_id}", method="GET") >= 1
    routes = {dict(k[1])["route"] for k in samples if k[0] == http}
    assert not any(re.search(r"/\d", r) for r in routes), routes  # templates, not paths
    assert samples[("triggerfish_build_info", (("version", __version__),))] == 1

    names = {name for name, _ in samples}
    for metric in dashboard_metrics():
        assert metric in names, f"the dashboard's {metric} is not in /metrics"


def test_metrics_want_a_token_unless_public(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(workers=0)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        r = httpx.get(f"{farm.url}/metrics", headers=headers, timeout=30)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "unauthorized"
    assert scrape(farm, farm.token)[("triggerfish_hosts", (("state", "active"),))] == 0
    with farm.client() as c:  # any known token reads them: a user's, a worker token
        reader = c.add_user("prometheus", ["submit"])["token"]
        worker = c.add_user("farm-workers", worker=True)["token"]
    for token in (reader, worker):
        assert ("triggerfish_jobs", (("status", "pending"),)) in scrape(farm, token)
    farm.stop()
    public = start_farm(workers=1, metrics_public=True)
    samples = scrape(public, None)
    assert samples[("triggerfish_hosts", (("state", "active"),))] == 1
    assert httpx.get(f"{public.url}/api/v1/jobs").status_code == 401  # only /metrics is open


def dashboard_metrics() -> set[str]:
    """The sample names the dashboard's queries use (a histogram's ``_bucket`` and the like)."""
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", ())]
    assert exprs and doc["title"] and doc["schemaVersion"]
    return {m for e in exprs for m in re.findall(r"\btriggerfish_[a-z_]+", e)}
