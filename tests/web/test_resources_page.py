"""The hosts page lists the global resources with what running work uses, and follows them
live (a real farm in Chromium: the farm and tab fixtures of conftest.py)."""

from __future__ import annotations

from typing import Any

from browser import shot
from webtab import Tab

from triggerfish.cli.local import LocalFarm


def test_resources_show_total_and_use_live(farm: LocalFarm, tab: Tab) -> None:
    page: Any = tab.page
    with farm.client() as c:
        c.set_resource("maya", 2)
        tab.goto("/hosts")
        row = '#resource-rows tr[data-resource="maya"]'
        page.wait_for_selector(f'{row}[data-used="0"][data-total="2"]')
        [job] = c.submit([{"name": "lic", "cpus": 2, "reservations": "global.maya=1",
                           "package": {"cmdline": "sleep 3", "range": "1-2"}}])  # fmt: skip
        page.wait_for_selector(f'{row}[data-used="2"]', timeout=20_000)  # (live, no reload)
        assert page.locator(f"{row} .available").inner_text() == "0"
        shot(page, "web-resources")
        c.wait([job["id"]], timeout=60)
        page.wait_for_selector(f'{row}[data-used="0"]', timeout=20_000)
        c.remove_resource("maya")
