"""Lookahead end to end: real supervisor and workers running short items back to back.

The worker is handed an instance's next items ahead of time and reports several ends in one
request; what users see must not change: every item runs once, in agenda order per instance,
with its output and its events, and an item that runs long gives the items held behind it
back to the farm.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from farms import StartFarm


def test_short_items_run_once_each_in_order_with_their_output(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    out = tmp_path / "ran.txt"
    with farm.client() as c:
        [j] = c.submit(
            [
                {
                    "name": "short",
                    "package": {
                        "cmdline": f"echo QB_FRAME_NUMBER >> {out}; echo frame QB_FRAME_NUMBER",
                        "range": "1-300",
                    },
                }
            ]
        )
        assert c.wait([j["id"]], timeout=120) == {j["id"]: "complete"}
        detail = c.job(j["id"])
        assert detail["todotally"]["complete"] == 300
        # output of items that ran behind another one (held ahead) is kept too
        for frame in ("1", "2", "150", "300"):
            text = c.log(j["id"], frame)
            assert text.count("=== attempt") == 1 and text.strip().endswith(f"\nframe {frame}")
        events = c.all_events()
    assert out.read_text().split() == [str(f) for f in range(1, 301)]  # once each, in order
    per_work = Counter((e["work"], e["name"]) for e in events if e["type"] == "work")
    for f in range(1, 301):
        assert per_work[(str(f), "running")] == 1
        assert per_work[(str(f), "complete")] == 1
    # each item was running (its event) before its end, and after the previous item's end
    order = [(e["work"], e["name"]) for e in events if e["type"] == "work"]
    for f in range(2, 301):
        assert order.index((str(f), "running")) > order.index((str(f - 1), "complete"))


@pytest.mark.slow  # over 10 s: CI runs it (.ci/run); `python -m pytest -m slow` here
def test_a_long_item_gives_the_items_held_behind_it_to_the_other_worker(
    start_farm: StartFarm, db_url: str
) -> None:
    farm = start_farm(db_url, workers=2, slots=1)
    with farm.client() as c:
        [j] = c.submit(
            [
                {
                    "name": "one-long",
                    "cpus": 2,
                    "package": {
                        "cmdline": '[ "QB_FRAME_NUMBER" = 30 ] && sleep 8; true',
                        "range": "1-60",
                    },
                }
            ]
        )
        assert c.wait([j["id"]], timeout=120) == {j["id"]: "complete"}
        agenda = {w["name"]: w for w in c.job(j["id"])["agenda"]}
    long = agenda["30"]
    # whatever was held behind frame 30 went back and ran elsewhere, while 30 still ran
    after = [agenda[str(f)] for f in range(31, 61)]
    assert all(w["timecomplete"] < long["timecomplete"] for w in after)
    assert {w["host"] for w in after} != {long["host"]}
