"""The layout of a pgrp's dependency graph (pure: no server)."""

from __future__ import annotations

from typing import Any

from triggerfish.web.graph import NODE_W, depths, layout, links, targets


def job(id: int, label: str = "", status: str = "pending") -> dict[str, Any]:
    return {"id": id, "label": label, "name": f"j{id}", "status": status}


def cb(job_id: int, triggers: str, source: str = "job") -> dict[str, Any]:
    return {"id": job_id * 10, "job_id": job_id, "source": source, "triggers": triggers}


def test_targets_are_the_jobs_a_trigger_names_but_self() -> None:
    assert targets("complete-job-up && done-work-7-$f || failed-job-self") == {"up", "7"}
    assert targets("time-12:00") == set()


def test_links_by_label_or_id_each_once_within_the_pgrp() -> None:
    jobs = [job(1, "up"), job(2, "down"), job(3)]
    cbs = [
        cb(2, "complete-job-up", "dependency"),
        cb(2, "failed-job-up || killed-job-up", "dependency"),
        cb(3, "done-job-2 && complete-job-99"),  # 99: not of this pgrp
        cb(1, "complete-job-self"),
    ]
    assert links(jobs, cbs) == [(1, 2, "dependency"), (2, 3, "callback")]


def test_layers_follow_the_longest_chain_and_cycles_end() -> None:
    assert depths([1, 2, 3, 4], [(1, 2, "d"), (2, 3, "d"), (1, 3, "d")]) == {1: 0, 2: 1, 3: 2, 4: 0}
    cyclic = depths([1, 2], [(1, 2, "d"), (2, 1, "d")])
    assert max(cyclic.values()) <= 2


def test_layout_places_layers_left_to_right() -> None:
    g = layout([job(1, "up"), job(2, "down")], [cb(2, "complete-job-up", "dependency")], 2)
    a, b = g.nodes
    assert a.x < b.x and a.y == b.y and b.current and not a.current
    assert len(g.edges) == 1 and g.edges[0].d.startswith(f"M{a.x + NODE_W},")
    assert g.width >= b.x + NODE_W and g.height > 0
