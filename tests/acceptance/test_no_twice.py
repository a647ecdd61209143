"""No frame runs twice when no worker died: what workers hold survives supervisor crashes.

Short frames run with lookahead on: each worker holds an instance's next items queued behind
the one it runs. The supervisor is SIGKILLed again and again while they run; every frame must
run exactly once (the command appends its number to a file), with no retry counted.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from farms import StartFarm

FRAMES = 3000
KILLS = 6


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


@pytest.mark.slow  # 40-60 s on a loaded machine: CI runs it (.ci/run)
def test_supervisor_sigkills_while_workers_hold_frames_run_each_frame_once(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=2, slots=1)
    out = tmp_path / "ran.txt"
    with farm.client() as c:
        [j] = c.submit(
            [
                {
                    "name": "short",
                    "cpus": 2,
                    "package": {
                        "cmdline": f"echo QB_FRAME_NUMBER >> {out}",
                        "range": f"1-{FRAMES}",
                    },
                }
            ]
        )
    step = FRAMES // (KILLS + 2)
    for kill in range(KILLS):
        deadline = time.monotonic() + 60
        while _lines(out) < (kill + 1) * step:  # frames run (and are held) when it dies
            assert time.monotonic() < deadline, f"no progress before kill {kill + 1}"
            time.sleep(0.01)
        farm.kill_supervisor()
        farm.restart_supervisor()
    with farm.client() as c:
        assert c.wait([j["id"]], timeout=120) == {j["id"]: "complete"}
        agenda = c.job(j["id"])["agenda"]
        events = c.all_events()
    ran = Counter(out.read_text().split())
    twice = sorted((int(f) for f, n in ran.items() if n > 1))
    assert twice == [], f"{len(twice)} frame(s) ran more than once: {twice[:20]}"
    assert set(ran) == {str(f) for f in range(1, FRAMES + 1)}
    # no attempt was lost (no worker died): no retry, one running and one complete each
    assert [w["name"] for w in agenda if w["retry"]] == []
    per_work = Counter((e["work"], e["name"]) for e in events if e["type"] == "work")
    for f in range(1, FRAMES + 1):
        assert per_work[(str(f), "running")] == per_work[(str(f), "complete")] == 1
