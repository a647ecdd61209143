"""The engine's meters and the farm's gauges on the in-process engine (no HTTP): what they say
against what the store holds (tests/acceptance/test_metrics.py checks them over HTTP)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_engine import Farm, job
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from triggerfish import __version__
from triggerfish.server.metrics import FarmCollector
from triggerfish.store import reads

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def scrape(farm: Farm) -> Samples:
    assert farm.eng is not None
    text = generate_latest(farm.eng.meters.registry).decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """The nonzero samples of ``name``, by the value of ``label``."""
    out = {}
    for (n, labels), value in samples.items():
        if n == name and value:
            out[dict(labels)[label]] = value
    return out


def test_gauges_and_counters_say_what_the_store_holds(farm: Farm) -> None:
    assert farm.eng is not None
    farm.eng.meters.registry.register(FarmCollector(farm.eng))
    farm.register("h1", 2)
    farm.register("h2", 1)
    done = farm.submit(job("1-5")).jobs[0].id
    failing = farm.submit(job("1-2", cmd="false")).jobs[0].id
    waiting = farm.submit(job("1-3", status="blocked")).jobs[0].id
    ran = 0
    for _ in range(20):  # the items of ``failing`` fail, the others complete
        for host in ("h1", "h2"):
            for a in farm.pull(host).assignments:
                farm.report(host, a.token, "failed" if a.job == failing else "complete")
                ran += 1
    assert farm.status(done) == "complete" and farm.status(failing) == "failed"
    assert farm.status(waiting) == "blocked"

    samples = scrape(farm)
    jobs = reads.list_jobs(farm.db, limit=100)
    assert by_label(samples, "triggerfish_jobs", "status") == Counter(j["status"] for j in jobs)
    items = Counter(w["status"] for j in jobs for w in farm.job(j["id"])["agenda"])
    assert by_label(samples, "triggerfish_work_items", "status") == items
    assert by_label(samples, "triggerfish_hosts", "state") == {"active": 2}
    assert by_label(samples, "triggerfish_tasks", "status") == {}
    events = farm.events()
    assert by_label(samples, "triggerfish_events_total", "type") == Counter(
        e["type"] for e in events
    )
    assigned = [e for e in events if e["name"] == "assigned"]
    assert samples[("triggerfish_dispatch_latency_seconds_count", ())] == len(assigned) >= ran
    assert samples[("triggerfish_commit_seconds_count", ())] >= 1
    assert samples[("triggerfish_engine_batch_size_count", ())] >= 1
    assert samples[("triggerfish_build_info", (("version", __version__),))] == 1


def test_dispatch_latency_counts_from_the_unblock_not_the_submit(farm: Farm) -> None:
    farm.register("h1", 1)
    job_id = farm.submit(job("1", status="blocked")).jobs[0].id
    time.sleep(0.3)  # blocked: not the queue's wait
    unblocked = time.time()
    farm.control("unblock", job_id)
    [a] = farm.pull("h1").assignments
    bound = time.time() - unblocked
    samples = scrape(farm)
    assert a.job == job_id
    assert samples[("triggerfish_dispatch_latency_seconds_count", ())] == 1
    assert 0 <= samples[("triggerfish_dispatch_latency_seconds_sum", ())] <= bound


def test_a_store_that_cannot_be_read_leaves_the_other_metrics(farm: Farm, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the SQLite file is taken away here")
    assert farm.eng is not None
    farm.eng.meters.registry.register(FarmCollector(farm.eng))
    farm.register("h1", 1)
    assert ("triggerfish_jobs", (("status", "pending"),)) in scrape(farm)
    farm.db.dispose()  # the next connection opens a file without the tables
    path = Path(db_url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    samples = scrape(farm)
    assert not any(name == "triggerfish_jobs" for name, _ in samples)
    assert samples[("triggerfish_hosts", (("state", "active"),))] == 1
    assert samples[("triggerfish_engine_batch_size_count", ())] >= 1


def test_resource_gauges_say_total_and_what_runs_uses(farm: Farm) -> None:
    from triggerfish.engine import resources

    assert farm.eng is not None
    farm.eng.meters.registry.register(FarmCollector(farm.eng))
    farm.run(resources.set_total, "maya", 3, "root")
    farm.run(resources.set_total, "nuke", 1, "root")
    farm.submit(job("1-4", cpus=4, reservations="global.maya=1"))
    farm.register("h1", 4)
    assert len(farm.pull("h1").assignments) == 3
    samples = scrape(farm)
    assert by_label(samples, "triggerfish_resource_total", "resource") == {"maya": 3, "nuke": 1}
    assert by_label(samples, "triggerfish_resource_used", "resource") == {"maya": 3}
    assert samples[("triggerfish_resource_used", (("resource", "nuke"),))] == 0
