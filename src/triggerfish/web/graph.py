"""The dependency graph of a job's pgrp, laid out for an inline SVG on the job's page.

Nodes are the pgrp's jobs; an edge goes from a job to one that waits for it: through its
``dependency`` field (callbacks of source ``dependency``) or through a callback whose triggers
name it (``complete-job-render``, ``done-work-12-$f``). Layers by dependency depth, left to
right; the layout is pure (tested without a server)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ATOM_TARGET = re.compile(r"\b[a-z]+-(?:job|work|subjob)-([A-Za-z0-9_.]+)")
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 180, 42, 70, 16, 10
MAX_NODES = 200  # jobs of a pgrp the graph shows


@dataclass(frozen=True)
class Node:
    id: int
    label: str
    name: str
    status: str
    x: int
    y: int
    current: bool


@dataclass(frozen=True)
class Edge:
    src: int
    dst: int
    kind: str  # dependency or callback
    d: str  # the SVG path


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    more: int = 0  # jobs of the pgrp left out (beyond MAX_NODES)
    node_w: int = NODE_W
    node_h: int = NODE_H


def targets(triggers: str) -> set[str]:
    """The jobs (ids or labels) a trigger expression names, ``self`` left out."""
    return {m for m in ATOM_TARGET.findall(triggers) if m != "self"}


def links(jobs: Iterable[Mapping[str, Any]], callbacks: Iterable[Mapping[str, Any]]
          ) -> list[tuple[int, int, str]]:  # fmt: skip
    """(upstream, downstream, kind) between these jobs, each once."""
    by_name: dict[str, int] = {}
    for j in jobs:
        by_name[str(j["id"])] = j["id"]
        if j["label"]:
            by_name.setdefault(j["label"], j["id"])
    out: dict[tuple[int, int, str], None] = {}
    for cb in callbacks:
        kind = "dependency" if cb["source"] == "dependency" else "callback"
        for name in sorted(targets(cb["triggers"])):
            src = by_name.get(name)
            if src is not None and src != cb["job_id"]:
                out[(src, cb["job_id"], kind)] = None
    return list(out)


def depths(ids: list[int], edges: list[tuple[int, int, str]]) -> dict[int, int]:
    """Each job's layer: the longest chain of upstreams before it (cycles cut off)."""
    depth = dict.fromkeys(ids, 0)
    for _ in range(len(ids)):
        changed = False
        for src, dst, _kind in edges:
            want = min(depth[src] + 1, len(ids))
            if want > depth[dst]:
                depth[dst], changed = want, True
        if not changed:
            break
    return depth


def _path(a: Node, b: Node) -> str:
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    if x2 <= x1:  # same layer or backwards (a cycle): around the side
        x1, x2 = a.x + NODE_W // 2, b.x + NODE_W // 2
        y1, y2 = a.y + NODE_H, b.y
    mid = (x1 + x2) // 2
    return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"


def layout(jobs: Sequence[Mapping[str, Any]], callbacks: Iterable[Mapping[str, Any]],
           current: int, more: int = 0) -> Graph:  # fmt: skip
    """The graph of ``jobs`` (of one pgrp) with the links their ``callbacks`` make."""
    edges = links(jobs, callbacks)
    depth = depths([j["id"] for j in jobs], edges)
    rows: dict[int, int] = {}
    nodes: dict[int, Node] = {}
    for j in jobs:
        col = depth[j["id"]]
        row = rows[col] = rows.get(col, -1) + 1
        x, y = PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y)
        nodes[j["id"]] = Node(j["id"], j["label"], j["name"], j["status"], x, y,
                              j["id"] == current)  # fmt: skip
    g = Graph(nodes=list(nodes.values()), more=more)
    g.edges = [Edge(s, d, k, _path(nodes[s], nodes[d])) for s, d, k in edges]
    g.width = PAD * 2 + (max(depth.values(), default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    g.height = PAD * 2 + (max(rows.values(), default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    return g
