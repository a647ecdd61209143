"""The hosts page shows a host's lock, and its lock / unlock buttons work (a real farm in
Chromium: the farm and tab fixtures of conftest.py)."""

from __future__ import annotations

from typing import Any

from webtab import Tab

from triggerfish.cli.local import LocalFarm


def _locked(farm: LocalFarm, name: str) -> bool:
    with farm.client() as c:
        return bool(next(h for h in c.hosts() if h["name"] == name)["locked"])


def test_lock_and_unlock_from_the_hosts_page(farm: LocalFarm, tab: Tab) -> None:
    page: Any = tab.page
    name = farm.worker_names[0]
    tab.goto("/hosts")
    row = f'#host-rows tr[data-host="{name}"]'
    assert page.locator(f"{row} .lock").inner_text() == "—"
    page.locator(f"{row} button[data-action='lock']").click()
    page.wait_for_selector(f'{row}[data-locked="yes"]')
    assert page.locator(f"{row} .lock").inner_text().startswith("locked")
    assert _locked(farm, name)
    other = f'#host-rows tr[data-host="{farm.worker_names[1]}"]'
    assert page.locator(f"{other} .lock").inner_text() == "—"  # only that host

    page.locator(f"{row} button[data-action='unlock']").click()
    page.wait_for_selector(f'{row}[data-locked="no"]')
    assert page.locator(f"{row} .lock").inner_text() == "—"
    assert page.locator(f"{row} button[data-action='lock']").count() == 1
    assert not _locked(farm, name)
