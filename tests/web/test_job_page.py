"""A job's page: its fields and items, the live frame grid (elements, or a canvas for a big
agenda), an item's logs, callbacks, the pgrp's graph, the controls and the 404 page."""

from __future__ import annotations

from pathlib import Path

import httpx
from browser import shot
from webtab import Tab

from triggerfish.cli.local import LocalFarm

FOREVER = 60_000  # ms: what waits for the farm (real workers) may take at worst


def _submit(farm: LocalFarm, *jobs: dict[str, object]) -> list[int]:
    with farm.client() as api:
        return [j["id"] for j in api.submit(list(jobs))]


def _wait_status(tab: Tab, status: str) -> None:
    tab.page.wait_for_function(  # type: ignore[attr-defined]
        f"document.querySelector('main').dataset.status === '{status}'", timeout=FOREVER
    )


def test_the_grid_has_a_cell_per_item_that_turns_complete_live(tab: Tab, farm: LocalFarm) -> None:
    (job,) = _submit(farm, {"name": "web-grid", "agenda": "1-12", "dependency": "",
                            "package": {"cmdline": "sleep 1"}, "priority": 10})  # fmt: skip
    tab.goto(f"/jobs/{job}")
    page = tab.page
    page.wait_for_selector("#grid [data-item]")  # type: ignore[attr-defined]
    assert page.locator("#grid [data-item]").count() == 12  # type: ignore[attr-defined]
    assert "12 items" in page.inner_text("#grid-count")  # type: ignore[attr-defined]
    assert page.get_attribute("main", "data-job-id") == str(job)  # type: ignore[attr-defined]
    assert "web-grid" in page.inner_text("#part-fields")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelectorAll('#grid [data-item][data-status=complete]').length === 12",
        timeout=FOREVER,
    )
    _wait_status(tab, "complete")
    assert page.locator("#subjobs tbody tr").count() >= 1  # type: ignore[attr-defined]
    assert page.locator("#events tbody tr").count() > 12  # type: ignore[attr-defined]
    shot(page, "web-job")  # type: ignore[arg-type]


def test_a_big_job_is_drawn_on_a_canvas(tab: Tab, farm: LocalFarm) -> None:
    (job,) = _submit(farm, {"name": "web-big", "agenda": "1-5000", "status": "blocked",
                            "package": {"cmdline": "true"}})  # fmt: skip
    tab.goto(f"/jobs/{job}")
    page = tab.page
    page.wait_for_selector("#grid canvas")  # type: ignore[attr-defined]
    assert "5000 items" in page.inner_text("#grid-count")  # type: ignore[attr-defined]
    assert "pending 5000" in page.inner_text("#grid-count")  # type: ignore[attr-defined]
    assert page.locator("#grid [data-item]").count() == 0  # type: ignore[attr-defined]
    assert page.evaluate("typeof window.tfGridDrawn") == "number"  # type: ignore[attr-defined]
    box = page.locator("#grid canvas").bounding_box()  # type: ignore[attr-defined]
    page.mouse.click(box["x"] + 1, box["y"] + 1)  # type: ignore[attr-defined]
    page.wait_for_function("document.getElementById('item-name').textContent === '1'")  # type: ignore[attr-defined]
    with farm.client() as api:
        api.kill(job)


def test_retry_a_failed_job_from_its_page(tab: Tab, farm: LocalFarm, tmp_path: Path) -> None:
    marker = tmp_path / "ran-once"
    cmd = f"test -f {marker} || {{ touch {marker}; echo first >&2; exit 3; }}"
    (job,) = _submit(farm, {"name": "web-retry", "package": {"cmdline": cmd}})
    tab.goto(f"/jobs/{job}")
    _wait_status(tab, "failed")  # live, from the stream
    page = tab.page
    page.click("button[data-action=retry]")  # type: ignore[attr-defined]
    _wait_status(tab, "complete")  # it left failed, ran again and completed
    assert page.inner_text("#job-status") == "complete"  # type: ignore[attr-defined]


def test_the_graph_of_a_two_job_pgrp(tab: Tab, farm: LocalFarm) -> None:
    up, down = _submit(
        farm,
        {"name": "web-up", "label": "up", "package": {"cmdline": "true"}},
        {"name": "web-down", "label": "down", "dependency": "link-complete-job-up",
         "package": {"cmdline": "true"}},
    )  # fmt: skip
    tab.goto(f"/jobs/{down}")
    page = tab.page
    assert page.locator("svg#graph .node").count() == 2  # type: ignore[attr-defined]
    assert page.locator("svg#graph .edge").count() == 1  # type: ignore[attr-defined]
    edge = page.locator("svg#graph .edge")  # type: ignore[attr-defined]
    assert (edge.get_attribute("data-from"), edge.get_attribute("data-to")) == (str(up), str(down))
    assert page.get_attribute(f'svg#graph .node[data-job-id="{up}"]', "href") == f"/jobs/{up}"  # type: ignore[attr-defined]
    _wait_status(tab, "complete")
    page.wait_for_function(  # type: ignore[attr-defined]
        "[...document.querySelectorAll('svg#graph .node')].every(n => n.dataset.status === 'complete')",
        timeout=FOREVER,
    )
    shot(page, "web-job-graph")  # type: ignore[arg-type]


def test_an_items_logs_show_stdout_and_stderr(tab: Tab, farm: LocalFarm) -> None:
    cmd = "echo to-out-QB_FRAME_NUMBER; echo to-err-QB_FRAME_NUMBER >&2"
    (job,) = _submit(farm, {"name": "web-logs", "agenda": "1-3", "package": {"cmdline": cmd}})
    tab.goto(f"/jobs/{job}")
    page = tab.page
    page.click('#grid [data-item="2"]')  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.getElementById('log-stdout').textContent.includes('to-out-2')"
        " && document.getElementById('log-stderr').textContent.includes('to-err-2')",
        timeout=FOREVER,
    )
    page.wait_for_selector("#item-attempts li")  # type: ignore[attr-defined]
    assert page.inner_text('#item-info [data-field="host"]') != ""  # type: ignore[attr-defined]


def test_callbacks_show_their_triggers(tab: Tab, farm: LocalFarm) -> None:
    cb = {"triggers": "complete-job-self", "language": "qube", "code": "block-self"}
    (job,) = _submit(farm, {"name": "web-cb", "package": {"cmdline": "true"}, "callbacks": [cb]})
    tab.goto(f"/jobs/{job}")
    page = tab.page
    assert page.inner_text("#callbacks code.triggers") == "complete-job-self"  # type: ignore[attr-defined]
    page.wait_for_selector("#runs tr[data-run]", timeout=FOREVER)  # type: ignore[attr-defined]  # live: its run
    assert "block job" in page.inner_text("#runs")  # type: ignore[attr-defined]


def test_a_missing_job_is_a_404_page(tab: Tab, farm: LocalFarm) -> None:
    resp = tab.goto("/jobs/987654")
    assert resp.status == 404  # type: ignore[attr-defined]
    assert "No job 987654" in tab.page.inner_text("h1")  # type: ignore[attr-defined]
    assert httpx.get(farm.url + "/jobs/987654").status_code in (303, 307)  # no session: login
