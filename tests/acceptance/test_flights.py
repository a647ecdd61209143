"""Flight checks and a worker's own health check, end to end: real supervisor and workers.

A failing preflight on one host sends the job to the other, which the job then avoids (a
``preflight`` event; the job's reason when no host is left); agenda pre/postflights run
around each item and the instance's pre/postflights around its items on a host (files the
programs write prove the order); a failing agenda postflight or postflight fails the item; a
worker's failing ``--check`` keeps its host out of dispatch, with the reason in ``hosts``,
until it passes again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from farms import StartFarm

from triggerfish import qb
from triggerfish.cli.local import LocalFarm
from triggerfish.cli.main import cli
from triggerfish.client.client import Client

pytestmark = pytest.mark.slow  # about 10 s: CI runs it (.ci/run); `python -m pytest -m slow`


def until(what: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def logged(log: Path, **fields: Any) -> dict[str, Any]:
    """A job whose every program appends a line to ``log``."""

    def add(word: str) -> str:
        return f'echo {word} $QB_FRAME_NUMBER >> "$LOG"'

    return {
        "name": "flights", "env": {"LOG": str(log)},
        "package": {"cmdline": add("cmd"), "range": "1-3"},
        "preflights": add("pre"), "postflights": add("post"),
        "agenda_preflights": f"{add('apre')}, {add('apre2')}",
        "agenda_postflights": add("apost"), **fields,
    }  # fmt: skip


def lines(log: Path) -> list[str]:
    return [ln.strip() for ln in log.read_text().splitlines()]


def test_a_failing_preflight_sends_the_job_to_another_host_and_avoids_its_own(
    start_farm: StartFarm,
) -> None:
    farm = start_farm(workers=2, slots=1)
    bad, good = farm.worker_names
    with farm.client() as c:
        [j] = c.submit([{
            "name": "picky", "cpus": 2, "package": {"cmdline": "sleep 0.1", "range": "1-4"},
            "preflights": f'true, test "$TRIGGERFISH_HOST" != "{bad}"',
        }])  # fmt: skip
        assert c.wait([j["id"]], timeout=60) == {j["id"]: "complete"}
        agenda = c.job(j["id"])["agenda"]
        assert {w["host"] for w in agenda} == {good}
        assert all(w["retry"] == 0 for w in agenda)  # no failed attempt counted
        events = [e for e in c.all_events() if e["job"] == j["id"] and e["name"] == "preflight"]
        assert events and {e["host"] for e in events} == {bad}
        assert events[0]["type"] == "job"
        assert events[0]["data"]["exit_code"] == 1
        assert bad in events[0]["data"]["program"]

        [k] = c.submit([{"name": "nowhere", "package": {"cmdline": "true"}, "preflights": "false"}])
        reason = until(lambda: c.job(k["id"])["reason"])
        assert reason.startswith("preflight failed on every host that can run it")
        assert bad in reason and good in reason and "'false' exited with 1" in reason
        assert c.job(k["id"])["status"] == "pending"
        shown = CliRunner().invoke(cli, ["job", str(k["id"])],
                                   env={**farm.client_env(), "COLUMNS": "250"})  # fmt: skip
        assert shown.exit_code == 0, shown.output
        assert "preflight failed on every host" in shown.output


def test_flights_run_around_each_item_and_each_instance(
    start_farm: StartFarm, tmp_path: Path
) -> None:
    farm = start_farm(workers=1, slots=1)
    ranged, single = tmp_path / "ranged.log", tmp_path / "single.log"
    with farm.client() as c:
        jobs = c.submit([logged(ranged), {
            "name": "one", "env": {"LOG": str(single)},
            "package": {"cmdline": 'echo cmd >> "$LOG"'},
            "preflights": 'echo pre >> "$LOG"', "postflights": 'echo post >> "$LOG"',
            "agenda_preflights": 'echo never >> "$LOG"',
        }])  # fmt: skip
        ids = [j["id"] for j in jobs]
        assert c.wait(ids, timeout=60) == dict.fromkeys(ids, "complete")
        info = c.job(ids[0])
    items = [[f"apre {n}", f"apre2 {n}", f"cmd {n}", f"apost {n}"] for n in ("1", "2", "3")]
    # (the preflights see the first item's frame, the postflights the last one's)
    assert lines(ranged) == ["pre 1", *(x for item in items for x in item), "post 3"]
    assert lines(single) == ["pre", "cmd", "post"]  # (no agenda: no agenda flights)
    fields = info.get("fields") or {}
    assert fields["preflights"] == 'echo pre $QB_FRAME_NUMBER >> "$LOG"'
    assert fields["agenda_postflights"] == 'echo apost $QB_FRAME_NUMBER >> "$LOG"'


def test_failing_postflights_fail_the_item(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(workers=1, slots=1)
    with farm.client() as c:
        agenda_post, post = c.submit([
            {"name": "apost", "package": {"cmdline": "true", "range": "1-3"},
             "agenda_postflights": "test $QB_FRAME_NUMBER != 2"},
            {"name": "post", "package": {"cmdline": "true", "range": "1-2"},
             "postflights": "echo cleaning up; exit 3", "priority": 1},
        ])  # fmt: skip
        ids = [agenda_post["id"], post["id"]]
        assert c.wait(ids, timeout=60) == dict.fromkeys(ids, "failed")
        status = {w["name"]: w["status"] for w in c.job(ids[0])["agenda"]}
        assert status == {"1": "complete", "2": "failed", "3": "complete"}
        failed = c.work(ids[0], "2")
        assert "agenda_postflight" in failed["result"]["error"]
        last = {w["name"]: w for w in c.job(ids[1])["agenda"]}
        assert last["1"]["status"] == "complete"
        assert last["2"]["status"] == "failed"  # the instance's last item on the host
        assert "postflight" in last["2"]["result"]["error"]
        events = [e["name"] for e in c.all_events() if e["job"] == ids[1]]
        assert "postflight" in events


def cli_hosts(farm: LocalFarm) -> str:
    env = {**farm.client_env(), "TRIGGERFISH_JSON": None, "COLUMNS": "250"}
    result = CliRunner().invoke(cli, ["hosts"], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def host_check(c: Client, name: str) -> str | None:
    return next(h for h in c.hosts() if h["name"] == name).get("check")


def test_a_failing_check_keeps_the_host_out_of_dispatch_until_it_passes(
    start_farm: StartFarm, tmp_path: Path
) -> None:
    sick = tmp_path / "sick"
    sick.write_text("disk full\n")
    check = f"test ! -e {sick} || {{ cat {sick}; exit 4; }}"
    farm = start_farm(
        workers=1, slots=1, worker_args=[["--check", check, "--check-interval", "0.2"]]
    )
    [name] = farm.worker_names
    with farm.client() as c:
        reason = host_check(c, name)  # failing from its start: it never took work
        assert reason and "exited with 4" in reason and "disk full" in reason
        assert "disk full" in cli_hosts(farm)
        qb.set_url(farm.url, farm.token)
        try:
            [qh] = qb.hostinfo(name)
        finally:
            qb.set_url(None)
        assert qh["check"] == reason
        [j] = c.submit([{"name": "waits", "package": {"cmdline": "true", "range": "1-2"}}])
        time.sleep(1.0)
        assert c.job(j["id"])["todotally"]["pending"] == 2  # no work went to it
        sick.unlink()
        assert c.wait([j["id"]], timeout=30) == {j["id"]: "complete"}
        assert host_check(c, name) is None
        sick.write_text("again\n")
        until(lambda: host_check(c, name))
        [k] = c.submit([{"name": "waits2", "package": {"cmdline": "true"}}])
        time.sleep(0.6)
        assert c.job(k["id"])["status"] == "pending"
        events = [e for e in c.all_events() if e["type"] == "host" and e["name"] == "check"]
        assert [e["data"]["failing"] for e in events] == [True, False, True]
