"""The hosts, tasks and events pages (and the API they read: ``running`` of
``GET /api/v1/hosts``, ``before`` of ``GET /api/v1/tasks``), on a real farm in Chromium.

Nothing waits a fixed time: the browser waits for what the page must come to show (live,
without a reload), the API is polled until the farm has got there, then both are asserted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from browser import shot
from webtab import Tab, login

from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client
from triggerfish.server.routes_jobs import EVENT_TYPES

APP_DIR = Path(__file__).resolve().parents[1] / "acceptance"  # tasks_app.py: the task functions
APP = "tasks_app"
T = TypeVar("T")


@pytest.fixture(scope="module", autouse=True)
def _task_functions() -> Iterator[None]:
    """The farm's workers import tasks_app (set before the module's farm starts: autouse)."""
    with pytest.MonkeyPatch.context() as mp:
        path = os.pathsep.join(p for p in (str(APP_DIR), os.environ.get("PYTHONPATH")) if p)
        mp.setenv("PYTHONPATH", path)
        mp.setenv("TRIGGERFISH_TASK_IMPORTS", APP)
        yield


def until(get: Callable[[], T], ok: Callable[[T], bool], what: str, timeout: float = 60) -> T:
    """Poll ``get`` until ``ok`` holds of its value (the farm gets there); that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never came: {what} (last: {value!r})")
        time.sleep(0.1)


def running_on(c: Client) -> dict[str, list[dict[str, Any]]]:
    return {h["name"]: h["running"] for h in c.hosts()}


def sleeper(c: Client, name: str, **more: Any) -> int:
    return int(c.submit({"name": name, "package": {"cmdline": "sleep 60"}, **more})[0]["id"])


# ---------------------------------------------------------------- the API


def test_hosts_tell_what_runs_on_them(farm: LocalFarm) -> None:
    with farm.client() as c:
        job = sleeper(c, "api-instance")
        items = sleeper(c, "api-items", agenda="1-2")
        try:
            now = until(lambda: running_on(c), lambda r: sum(map(len, r.values())) == 2, "both run")
            runs = sorted((x["job"], x["subjob"], x["item"]) for r in now.values() for x in r)
            assert runs == [(job, 0, None), (items, 0, "1")]  # an instance; an agenda item
            for h in c.hosts():
                assert h["used"] == len(h["running"])
        finally:
            c.kill(job, items)
        until(lambda: running_on(c), lambda r: not any(r.values()), "nothing running")


def test_tasks_page_back_with_before(farm: LocalFarm) -> None:
    with farm.client() as c:
        ids = [c.add_task({"target": f"{APP}:echo", "params": i})["id"] for i in range(3)]
        newest = [t["id"] for t in c.tasks(limit=2)]
        assert newest == sorted(newest, reverse=True) and newest[0] == ids[-1]
        older = [t["id"] for t in c.tasks(limit=2, before=newest[-1])]
        assert older and max(older) < newest[-1]
        assert older == sorted(older, reverse=True)
        below = {t["id"] for t in c.tasks(limit=100_000, before=ids[0])}
        assert below.isdisjoint(ids)
        r = httpx.get(f"{farm.url}/api/v1/tasks", params={"before": 0},
                      headers={"Authorization": f"Bearer {farm.token}"})  # fmt: skip
        assert r.status_code == 422


# ---------------------------------------------------------------- the pages


def test_hosts_page_shows_hosts_slots_and_running_work(farm: LocalFarm, tab: Tab) -> None:
    page: Any = tab.page
    tab.goto("/hosts")
    for name in farm.worker_names:
        row = page.locator(f'#host-rows tr[data-host="{name}"]')
        assert row.get_attribute("data-state") == "up"
        assert row.locator(".slots .total").inner_text() == "2"
        assert row.locator(".lock").inner_text() == "—"
        assert row.locator("button[data-action='mark down']").count() == 1  # admin
        assert row.locator("button[data-action='remove']").count() == 1
    page.evaluate("window.notReloaded = true")
    with farm.client() as c:
        job = sleeper(c, "web-hosts", agenda="7-8")
        try:
            run = page.wait_for_selector(f'#host-rows .run[data-job="{job}"]')  # live
            assert run.inner_text().split() == [str(job), "7"]
            assert run.query_selector("a").get_attribute("href") == f"/jobs/{job}"
            assert page.evaluate("window.notReloaded") is True
            shot(page, "web-hosts")
        finally:
            c.kill(job)
        page.wait_for_selector(f'#host-rows .run[data-job="{job}"]', state="detached")


def test_hosts_page_has_no_host_buttons_for_a_user(farm: LocalFarm, browser: object) -> None:
    with farm.client() as c:
        token = c.add_user("web-hosts-user", ["submit"])["token"]
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    login(page, farm.url, token, "/hosts")
    assert page.locator("#host-rows tr[data-host]").count() == len(farm.worker_names)
    assert page.locator("#host-rows button").count() == 0  # mark down, remove: admin only
    context.close()


def test_mark_down_button_marks_the_host_down(farm: LocalFarm, tab: Tab) -> None:
    page: Any = tab.page
    name = farm.worker_names[0]
    page.on("dialog", lambda d: d.accept())  # the button asks first
    tab.goto("/hosts")
    with farm.client() as c:
        c.events(limit=1)
        head = c.event_head_seq
        page.click(f'#host-rows tr[data-host="{name}"] button[data-action="mark down"]')
        downs = until(lambda: [e for e in c.events(since=head, type="host") if e["name"] == "down"],
                      bool, "a down event")  # fmt: skip
        assert (downs[0]["host"], downs[0]["data"].get("why")) == (name, "marked down")
        # a worker that lives is up again at its next pull
        until(lambda: {h["name"]: h["state"] for h in c.hosts()}[name], "active".__eq__, "up")
    page.wait_for_selector(f'#host-rows tr[data-host="{name}"][data-state="up"]')


def test_tasks_page_shows_schedules_and_pauses_them(farm: LocalFarm, tab: Tab) -> None:
    page: Any = tab.page
    with farm.client() as c:
        sid = c.add_schedule({"target": f"{APP}:echo", "params": "tick", "every": 3600,
                              "key": "web-tasks"})["id"]  # fmt: skip
        try:
            tab.goto("/tasks")
            row = f'#schedule-rows tr[data-schedule="{sid}"]'
            assert "every 1 h" in page.inner_text(f"{row} .spec")
            assert page.get_attribute(row, "data-paused") == "no"
            page.click(f'{row} button[data-action="pause"]')
            page.wait_for_selector(f'{row}[data-paused="yes"]')
            assert c.schedule(sid)["paused"] is True
            assert page.inner_text(f"{row} .state") == "paused"
            page.click(f'{row} button[data-action="resume"]')
            page.wait_for_selector(f'{row}[data-paused="no"]')
            assert c.schedule(sid)["paused"] is False
            # its first run was due at once: its task and result come live
            page.wait_for_selector(f'{row}[data-status="complete"]')
            assert page.inner_text(f"{row} td.result") == '{"got":"tick"}'
            task = c.add_task({"target": f"{APP}:echo", "params": {"n": 7}})["id"]
            done = page.wait_for_selector(
                f'#task-rows tr[data-task="{task}"][data-status=complete]'
            )
            assert done.query_selector("td.result").inner_text() == '{"got":{"n":7}}'
            assert c.task(task)["result"] == {"got": {"n": 7}}
            shot(page, "web-tasks")
        finally:
            c.remove_schedule(sid)


def test_tasks_page_pages_back(farm: LocalFarm, tab: Tab) -> None:
    page: Any = tab.page
    with farm.client() as c:
        c.add_tasks([{"target": f"{APP}:echo", "params": i} for i in range(60)])
        newest = [t["id"] for t in c.tasks(limit=51)]
    tab.goto("/tasks")
    shown = page.eval_on_selector_all("#task-rows tr", "rs => rs.map(r => +r.dataset.task)")
    assert shown == newest[:50]
    page.click(".pager a.older")
    page.wait_for_url(f"{tab.base}/tasks?before={newest[49]}")
    assert page.get_attribute("#task-rows tr", "data-task") == str(newest[50])
    page.click(".pager a.newest")
    page.wait_for_url(f"{tab.base}/tasks")


def _rows(page: Any, visible_only: bool = False) -> list[dict[str, str]]:
    return list(page.eval_on_selector_all(
        "#event-rows tr",
        "(rs, vis) => rs.filter(r => !vis || !r.hidden).map(r => ({seq: r.dataset.seq,"
        " type: r.dataset.type, job: r.dataset.job || '', text: r.textContent}))",
        visible_only,
    ))  # fmt: skip


def test_events_page_follows_the_log_with_filters(farm: LocalFarm, tab: Tab) -> None:
    page: Any = tab.page
    tab.goto("/events")
    options = page.eval_on_selector_all("select[name=type] option", "os => os.map(o => o.value)")
    assert options == ["", *EVENT_TYPES]
    page.evaluate("window.notReloaded = true")
    with farm.client() as c:
        job = int(c.submit({"name": "web-events", "package": {"cmdline": "true"}})[0]["id"])
        page.wait_for_selector(f'#event-rows tr[data-job="{job}"] .status.complete')  # live
        assert page.evaluate("window.notReloaded") is True
        rows = _rows(page)
        seqs = [int(r["seq"]) for r in rows]
        assert seqs == sorted(seqs, reverse=True) and len(seqs) <= 500  # newest first
        link = page.get_attribute(f'#event-rows tr[data-job="{job}"] a', "href")
        assert link == f"/jobs/{job}"
        shot(page, "web-events")

        page.select_option("select[name=type]", "job")
        page.fill("input[name=job]", str(job))
        page.press("input[name=job]", "Tab")  # (a change applies when the field is left)
        page.wait_for_function(
            "job => { const rs = [...document.querySelectorAll('#event-rows tr')];"
            " return rs.length > 0 && rs.every(r => r.dataset.job === job"
            " && r.dataset.type === 'job'); }",
            arg=str(job),
        )
        names = {r["text"] for r in _rows(page)}
        assert any("complete" in n for n in names)
        assert page.url.endswith(f"/events?job={job}&type=job")
        page.fill("input[name=q]", "complete")
        visible = _rows(page, visible_only=True)
        assert visible and all("complete" in r["text"] for r in visible)
        assert len(visible) < len(_rows(page))  # submitted, running… hidden

        # pause: new events are held back until resumed
        page.fill("input[name=q]", "")
        page.select_option("select[name=type]", "")
        page.fill("input[name=job]", "")
        page.press("input[name=job]", "Tab")
        page.wait_for_function(  # the unfiltered first view is in (instance events again)
            "() => document.getElementById('event-filters').dataset.state === 'live'"
            " && document.querySelector('#event-rows tr:not([data-type=job])') !== null"
        )
        page.click("#event-pause")
        later = int(c.submit({"name": "web-paused", "package": {"cmdline": "true"}})[0]["id"])
        until(lambda: c.job(later, agenda=False)["status"], "complete".__eq__, "done")
        page.wait_for_function(
            "() => /held back/.test(document.getElementById('event-note').textContent)"
            " && !/, 0 new/.test(document.getElementById('event-note').textContent)"
        )
        assert page.query_selector(f'#event-rows tr[data-job="{later}"]') is None
        page.click("#event-pause")
        page.wait_for_selector(f'#event-rows tr[data-job="{later}"]')
