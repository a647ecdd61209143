"""The jobs table at ``/``: rows that follow the farm without a reload, filters, keyset
pages, the controls a user may use, and the row fragments the page fetches."""

from __future__ import annotations

import uuid
from contextlib import closing
from typing import Any

import httpx
import pytest
from browser import shot
from webtab import Tab

from triggerfish.cli.local import LocalFarm

ROW = 'tr[data-job-id="{}"]'


def _tag() -> str:
    """A name part no other test's jobs have (the farm is shared by the module)."""
    return uuid.uuid4().hex[:8]


def _ids(page: Any) -> list[int]:
    """The job ids of the table's rows, top to bottom."""
    return [int(x) for x in page.eval_on_selector_all(
        "#jobs tbody tr", "rows => rows.map(r => r.dataset.jobId)")]  # fmt: skip


def _following(tab: Tab, path: str = "/") -> Any:
    """The page at ``path``, once its event stream is open."""
    tab.goto(path)
    page = tab.page
    page.wait_for_selector("#live.on")  # type: ignore[attr-defined]
    page.evaluate("window.__loaded = true")  # type: ignore[attr-defined]
    return page


def _session(farm: LocalFarm, token: str) -> httpx.Client:
    c = httpx.Client(base_url=farm.url, timeout=10, headers={"Origin": farm.url})
    assert c.post("/login", data={"token": token, "next": "/"}).status_code == 303
    return c


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_running_rows_show_their_progress(farm: LocalFarm, tab: Tab) -> None:
    page = _following(tab)
    with farm.client() as api:
        ok, bad, held, busy = api.submit([
            {"name": "comp-plates", "package": {"cmdline": "true", "range": "1-3"}},
            {"name": "sim-cloth", "package": {"cmdline": "false"}},
            {"name": "lighting-v2", "status": "blocked", "label": "lgt",
             "package": {"cmdline": "true", "range": "1-10"}},
            {"name": "render-beauty", "cpus": 2, "priority": 50,
             "package": {"cmdline": "sleep 1", "range": "1-20"}},
        ])  # fmt: skip
    row = ROW.format(busy["id"])
    page.wait_for_selector(f'{ROW.format(ok["id"])}[data-status="complete"]')
    page.wait_for_selector(f'{ROW.format(bad["id"])}[data-status="failed"]')
    assert page.get_attribute(ROW.format(held["id"]), "data-status") == "blocked"
    # items ending are no job events: the running row's progress comes from its refresh
    page.wait_for_function(
        """(sel) => { const tr = document.querySelector(sel);
                      return tr && tr.dataset.status === "running"
                             && !tr.querySelector(".count").textContent.startsWith("0/"); }""",
        arg=row,
    )
    assert int(page.inner_text(f"{row} td.hosts")) >= 1
    assert page.query_selector(f"{ROW.format(bad['id'])} button[data-action=retry]") is not None
    shot(page, "web-jobs")
    with farm.client() as api:
        api.kill(busy["id"])
    page.wait_for_selector(f'{row}[data-status="killed"]')


def test_a_new_job_appears_and_its_row_follows_it_to_complete(farm: LocalFarm, tab: Tab) -> None:
    page = _following(tab)
    name = f"live-{_tag()}"
    with farm.client() as api:
        (job,) = api.submit({"name": name, "cpus": 2,
                             "package": {"cmdline": "sleep 1", "range": "1-4"}})  # fmt: skip
    row = ROW.format(job["id"])
    page.wait_for_selector(f'{row}[data-status="running"]')
    assert _ids(page)[0] == job["id"]  # prepended: the newest on top
    assert page.inner_text(f"{row} td.name") == name
    page.wait_for_selector(f'{row}[data-status="complete"]', timeout=60_000)
    assert page.inner_text(f"{row} .count") == "4/4"
    assert page.inner_text(f"{row} .status") == "complete"
    assert page.evaluate("window.__loaded") is True  # the same document: never reloaded
    assert page.get_attribute(f"{row} td.name a", "href") == f"/jobs/{job['id']}"


def test_filters_keep_the_rows_that_match(farm: LocalFarm, tab: Tab) -> None:
    tag = _tag()
    with farm.client() as api:
        alice = api.submit({"name": f"{tag}-alice", "user": "alice", "status": "blocked",
                            "package": {"cmdline": "true"}})[0]  # fmt: skip
        mine = api.submit([{"name": f"{tag}-mine-{i}", "label": f"l{i}", "status": "blocked",
                            "package": {"cmdline": "true"}} for i in range(2)])  # fmt: skip
    page = tab.page
    tab.goto("/")
    page.fill("#job-filters input[name=name]", tag)  # type: ignore[attr-defined]
    page.click("#job-filters button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"**/?*name={tag}*")  # type: ignore[attr-defined]
    assert _ids(page) == [mine[1]["id"], mine[0]["id"], alice["id"]]
    tab.goto(f"/?name={tag}&user=alice")
    assert _ids(page) == [alice["id"]]
    tab.goto(f"/?name={tag}&label=l0")
    assert _ids(page) == [mine[0]["id"]]
    tab.goto(f"/?pgrp={mine[0]['pgrp']}")
    assert _ids(page) == [mine[1]["id"], mine[0]["id"]]
    tab.goto("/?status=blocked")
    statuses = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#jobs tbody tr", "rows => rows.map(r => r.dataset.status)"
    )
    assert set(statuses) == {"blocked"} and alice["id"] in _ids(page)
    tab.goto(f"/?name={tag}&status=complete")
    assert _ids(page) == [] and "match these filters" in page.inner_text("#no-jobs")  # type: ignore[attr-defined]
    tab.goto("/?status=nonsense&pgrp=x")
    errors = page.inner_text("main")  # type: ignore[attr-defined]
    assert "'nonsense' is not a job status" in errors and "pgrp: 'x' is not a number" in errors


def test_a_filtered_page_gets_the_new_jobs_that_match(farm: LocalFarm, tab: Tab) -> None:
    tag = _tag()
    page = _following(tab, f"/?name={tag}")
    assert _ids(page) == []
    with farm.client() as api:  # one commit: their events come in one message
        match, _other = api.submit([
            {"name": f"{tag}-in", "status": "blocked", "package": {"cmdline": "true"}},
            {"name": "not-it", "status": "blocked", "package": {"cmdline": "true"}},
        ])  # fmt: skip
    page.wait_for_selector(ROW.format(match["id"]))
    assert _ids(page) == [match["id"]]  # "not-it" was in the same answer, filtered out
    assert page.query_selector("#no-jobs") is None


def test_pages_go_older_and_newer_by_id(farm: LocalFarm, tab: Tab) -> None:
    tag = _tag()
    with farm.client() as api:
        jobs = api.submit([{"name": f"{tag}-{i}", "status": "blocked",
                            "package": {"cmdline": "true"}} for i in range(61)])  # fmt: skip
    ids = sorted((j["id"] for j in jobs), reverse=True)
    page = tab.page
    tab.goto(f"/?name={tag}")
    assert _ids(page) == ids[:50]
    assert page.is_hidden("#newer")  # type: ignore[attr-defined]
    page.click("#older")  # type: ignore[attr-defined]
    page.wait_for_url(f"**before={ids[49]}")  # type: ignore[attr-defined]
    assert _ids(page) == ids[50:]
    assert page.is_hidden("#older")  # type: ignore[attr-defined]
    page.click("#newer")  # type: ignore[attr-defined]
    page.wait_for_url(f"**after={ids[50]}")  # type: ignore[attr-defined]
    assert _ids(page) == ids[:50]  # fewer than a page newer: the newest page
    assert page.is_hidden("#newer")  # type: ignore[attr-defined]


def test_the_kill_and_retry_buttons_control_the_job(farm: LocalFarm, tab: Tab) -> None:
    page = _following(tab)
    with farm.client() as api:
        (job,) = api.submit({"name": f"kill-{_tag()}", "package": {"cmdline": "sleep 60"}})
    row = ROW.format(job["id"])
    page.wait_for_selector(f"{row} button[data-action=kill]")
    assert page.query_selector(f"{row} button[data-action=retry]") is None
    page.once("dialog", lambda d: d.accept())  # the button asks "Kill job N (...)?"
    page.click(f"{row} button[data-action=kill]")
    page.wait_for_selector(f'{row}[data-status="killed"]')
    with farm.client() as api:
        assert api.job(job["id"])["status"] == "killed"
    assert page.query_selector(f"{row} button[data-action=kill]") is None
    page.click(f"{row} button[data-action=retry]")
    page.wait_for_selector(f'{row}:not([data-status="killed"])')
    with farm.client() as api:
        assert api.job(job["id"])["status"] != "killed"
        api.kill(job["id"])
    page.wait_for_selector(f'{row}[data-status="killed"]')
    assert page.evaluate("window.__loaded") is True


def test_controls_only_where_the_user_may_act(farm: LocalFarm) -> None:
    with farm.client() as api:
        bob = api.add_user(f"bob{_tag()}", ["submit"])
        (admins,) = api.submit({"name": "not-bobs", "status": "blocked",
                                "package": {"cmdline": "true"}})  # fmt: skip
        (bobs,) = api.submit({"name": "bobs", "user": bob["name"], "status": "blocked",
                              "package": {"cmdline": "true"}})  # fmt: skip
    with closing(_session(farm, bob["token"])) as c:
        html = c.get("/rows/jobs", params={"ids": f"{admins['id']},{bobs['id']}"}).text
    mine, theirs = html.split(f'<tr data-job-id="{admins["id"]}"')
    assert f'data-job-id="{bobs["id"]}"' in mine and 'data-action="kill"' in mine
    assert "data-action" not in theirs  # another user's job: seen, not controlled


def test_the_rows_fragment(farm: LocalFarm) -> None:
    tag = _tag()
    with farm.client() as api:
        a, b = api.submit([{"name": f"{tag}-{x}", "status": "blocked",
                            "package": {"cmdline": "true"}} for x in "ab"])  # fmt: skip
    anonymous = httpx.get(f"{farm.url}/rows/jobs?ids={a['id']}", follow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    assert farm.token is not None
    with closing(_session(farm, farm.token)) as c:
        r = c.get("/rows/jobs", params={"ids": f"{a['id']},999999,x"})
        assert r.status_code == 200 and r.text.count("<tr ") == 1 and "999999" not in r.text
        # new jobs pass the page's filters; rows asked by id are given whatever they are
        r = c.get("/rows/jobs", params={"ids": str(a["id"]), "new": str(b["id"]),
                                        "name": f"{tag}-a"})  # fmt: skip
        assert f'data-job-id="{a["id"]}"' in r.text and f'data-job-id="{b["id"]}"' not in r.text
        r = c.get("/rows/jobs", params={"new": f"{a['id']},{b['id']}", "name": tag})
        assert r.text.index(f'"{b["id"]}"') < r.text.index(f'"{a["id"]}"')  # newest first
