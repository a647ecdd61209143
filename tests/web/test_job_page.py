"""A job's page: its fields and items, the live frame grid (elements, or a canvas for a big
agenda), an item's logs, callbacks, the pgrp's graph, the controls and the 404 page."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import httpx
import pytest
from browser import shot
from playwright.sync_api import Browser, Page, Response
from webtab import Tab, login

from triggerfish.cli.local import LocalFarm

FOREVER = 60_000  # ms: what waits for the farm (real workers) may take at worst


def _page(tab: Tab) -> Page:
    return cast(Page, tab.page)


def _submit(farm: LocalFarm, *jobs: dict[str, object]) -> list[int]:
    with farm.client() as api:
        return [j["id"] for j in api.submit(list(jobs))]


def _wait_status(tab: Tab, status: str) -> None:
    _page(tab).wait_for_function(
        f"document.querySelector('main').dataset.status === '{status}'", timeout=FOREVER
    )


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_the_grid_has_a_cell_per_item_that_turns_complete_live(tab: Tab, farm: LocalFarm) -> None:
    (job,) = _submit(farm, {"name": "web-grid", "agenda": "1-12",
                            "package": {"cmdline": "echo frame QB_FRAME_NUMBER; sleep 1"},
                            "priority": 10})  # fmt: skip
    tab.goto(f"/jobs/{job}")
    page = _page(tab)
    page.wait_for_selector("#grid [data-item]")
    assert page.locator("#grid [data-item]").count() == 12
    assert "12 items" in page.inner_text("#grid-count")
    assert page.get_attribute("main", "data-job-id") == str(job)
    assert "web-grid" in page.inner_text("#part-fields")
    # one instance, a second an item: not all complete yet, so what follows happens live
    assert page.locator("#grid [data-item][data-status=complete]").count() < 12
    page.wait_for_function(
        "document.querySelectorAll('#grid [data-item][data-status=complete]').length === 12",
        timeout=FOREVER,
    )
    _wait_status(tab, "complete")
    assert page.locator("#subjobs tbody tr").count() >= 1
    assert page.locator("#events tbody tr").count() > 12
    page.click('#grid [data-item="3"]')
    page.wait_for_function("document.getElementById('log-stdout-state').textContent === '(ended)'")
    assert "frame 3" in page.inner_text("#log-stdout")
    shot(page, "web-job")


def test_a_big_job_is_drawn_on_a_canvas(tab: Tab, farm: LocalFarm) -> None:
    (job,) = _submit(farm, {"name": "web-big", "agenda": "1-5000", "status": "blocked",
                            "package": {"cmdline": "true"}})  # fmt: skip
    tab.goto(f"/jobs/{job}")
    page = _page(tab)
    page.wait_for_selector("#grid canvas")
    assert "5000 items" in page.inner_text("#grid-count")
    assert "pending 5000" in page.inner_text("#grid-count")
    assert page.locator("#grid [data-item]").count() == 0
    assert page.evaluate("typeof window.tfGridDrawn") == "number"
    box = page.locator("#grid canvas").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 1, box["y"] + 1)
    page.wait_for_function("document.getElementById('item-name').textContent === '1'")
    page.fill("#priority", "42")
    page.click("#set-priority")  # modify, then the page follows the stream
    page.wait_for_function(
        "document.querySelector('[data-field=priority]').textContent === '42'", timeout=FOREVER
    )
    with farm.client() as api:
        assert api.job(job, agenda=False)["priority"] == 42
        api.kill(job)
    page.wait_for_function(  # the canvas and the counts follow the stream too
        "document.getElementById('grid-count').textContent.includes('killed 5000')",
        timeout=FOREVER,
    )


def test_retry_a_failed_job_from_its_page(tab: Tab, farm: LocalFarm, tmp_path: Path) -> None:
    marker = tmp_path / "ran-once"
    cmd = f"test -f {marker} || {{ touch {marker}; echo first >&2; exit 3; }}"
    (job,) = _submit(farm, {"name": "web-retry", "package": {"cmdline": cmd}})
    tab.goto(f"/jobs/{job}")
    _wait_status(tab, "failed")  # live, from the stream
    page = _page(tab)
    page.click("button[data-action=retry]")
    _wait_status(tab, "complete")  # it left failed, ran again and completed
    assert page.inner_text("#job-status") == "complete"


def test_the_graph_of_a_two_job_pgrp(tab: Tab, farm: LocalFarm) -> None:
    up, down = _submit(
        farm,
        {"name": "web-up", "label": "up", "package": {"cmdline": "true"}},
        {"name": "web-down", "label": "down", "dependency": "link-complete-job-up",
         "package": {"cmdline": "true"}},
    )  # fmt: skip
    tab.goto(f"/jobs/{down}")
    page = _page(tab)
    assert page.locator("svg#graph .node").count() == 2
    assert page.locator("svg#graph .edge").count() == 1
    edge = page.locator("svg#graph .edge")
    assert (edge.get_attribute("data-from"), edge.get_attribute("data-to")) == (str(up), str(down))
    assert page.get_attribute(f'svg#graph .node[data-job-id="{up}"]', "href") == f"/jobs/{up}"
    _wait_status(tab, "complete")
    page.wait_for_function(
        "[...document.querySelectorAll('svg#graph .node')]"
        ".every(n => n.dataset.status === 'complete')",
        timeout=FOREVER,
    )
    shot(page, "web-job-graph")


def test_an_items_logs_show_stdout_and_stderr(tab: Tab, farm: LocalFarm) -> None:
    cmd = "echo to-out-QB_FRAME_NUMBER; echo to-err-QB_FRAME_NUMBER >&2"
    (job,) = _submit(farm, {"name": "web-logs", "agenda": "1-3", "package": {"cmdline": cmd}})
    tab.goto(f"/jobs/{job}")
    page = _page(tab)
    page.click('#grid [data-item="2"]')
    page.wait_for_function(
        "document.getElementById('log-stdout').textContent.includes('to-out-2')"
        " && document.getElementById('log-stderr').textContent.includes('to-err-2')",
        timeout=FOREVER,
    )
    page.wait_for_selector("#item-attempts li")
    assert page.inner_text('#item-info [data-field="host"]') != ""


def test_callbacks_show_their_triggers(tab: Tab, farm: LocalFarm) -> None:
    cb = {"triggers": "complete-job-self", "language": "qube", "code": "block-self"}
    (job,) = _submit(farm, {"name": "web-cb", "package": {"cmdline": "true"}, "callbacks": [cb]})
    tab.goto(f"/jobs/{job}")
    page = _page(tab)
    assert page.inner_text("#callbacks code.triggers") == "complete-job-self"
    page.wait_for_selector("#runs tr[data-run]", timeout=FOREVER)  # live: its run
    assert "block job" in page.inner_text("#runs")


def test_a_missing_job_is_a_404_page(tab: Tab, farm: LocalFarm) -> None:
    resp = cast(Response, tab.goto("/jobs/987654"))
    assert resp.status == 404
    assert "No job 987654" in _page(tab).inner_text("h1")
    assert httpx.get(farm.url + "/jobs/987654").status_code in (303, 307)  # no session: login


def test_an_instance_of_a_job_without_agenda_shows_its_logs(tab: Tab, farm: LocalFarm) -> None:
    cmd = "echo inst-out; echo inst-err >&2"
    (job,) = _submit(farm, {"name": "web-inst", "package": {"cmdline": cmd}})
    tab.goto(f"/jobs/{job}")
    page = _page(tab)
    assert "No agenda" in page.inner_text("#grid-count")
    page.click("#subjobs tr[data-subid='0']")
    page.wait_for_function(
        "document.getElementById('log-stdout').textContent.includes('inst-out')"
        " && document.getElementById('log-stderr').textContent.includes('inst-err')",
        timeout=FOREVER,
    )
    assert page.inner_text("#item-name") == f"{job}.0"


def test_controls_only_for_who_may_act(farm: LocalFarm, browser: Browser) -> None:
    (job,) = _submit(farm, {"name": "web-not-yours", "package": {"cmdline": "true"}})
    with farm.client() as api:
        token = api.add_user("web-onlooker", ["submit"])["token"]
    context = browser.new_context()
    page = context.new_page()
    login(page, farm.url, token, f"/jobs/{job}")
    assert "web-not-yours" in page.inner_text("#part-fields")
    assert page.locator("button[data-action]").count() == 0  # not their job, not an admin
    context.close()


def test_an_items_package_and_result_package_show_in_its_panel(tab: Tab, farm: LocalFarm) -> None:
    # a job type (tests/web/jobtypes/echo) reports each item's own package back as its result
    agenda = [{"name": str(n), "package": {"scene": f"shot{n}.ma"}} for n in (1, 2)]
    (job,) = _submit(farm, {"name": "web-result", "prototype": "echo", "agenda": agenda})
    tab.goto(f"/jobs/{job}")
    page = _page(tab)
    _wait_status(tab, "complete")
    page.click('#grid [data-item="2"]')
    page.wait_for_selector('#item-info [data-field="result"]', timeout=FOREVER)
    assert '"scene":"shot2.ma"' in page.inner_text('#item-info [data-field="package"]')
    result = page.inner_text('#item-info [data-field="result"]')
    assert '"echo":{"scene":"shot2.ma"}' in result and '"item":"2"' in result
    shot(page, "web-item-result")
