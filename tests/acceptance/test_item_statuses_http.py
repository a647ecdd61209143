"""``GET /api/v1/jobs/{id}/statuses``: every item's name and status in one compact answer,
the same as the agenda's pages say, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
from farms import StartFarm

from triggerfish.server.routes_grid import compact_names

AGENDA: list[Any] = [
    *["1", "3", "5", "6", "7", "a", "07", "10"],
    {"name": "11", "status": "complete"},
    {"name": "12", "status": "blocked"},
]


def expand(names: list[Any]) -> list[str]:
    """What the page does with ``names``: one name per item."""
    out: list[str] = []
    for n in names:
        if isinstance(n, str):
            out.append(n)
        else:
            first, count, step = n
            out += [str(first + i * step) for i in range(count)]
    return out


def test_statuses_are_the_agendas_compactly(start_farm: StartFarm, db_url: str) -> None:
    farm = start_farm(db_url, workers=0)
    with farm.client() as c:
        mixed, plain, single = (j["id"] for j in c.submit([
            {"name": "mixed", "agenda": AGENDA, "package": {"cmdline": "true"}},
            {"name": "plain", "agenda": "1-500", "package": {"cmdline": "true"}},
            {"name": "single", "package": {"cmdline": "true"}},
        ]))  # fmt: skip
        c.block(plain)
        work = {w["name"]: w["status"] for w in c.agenda(mixed)}
    http = httpx.Client(base_url=farm.url, headers={"Authorization": f"Bearer {farm.token}"})
    got = http.get(f"/api/v1/jobs/{mixed}/statuses").json()
    assert got["names"] == [[1, 3, 2], [6, 2, 1], "a", "07", [10, 3, 1]]
    assert got["total"] == len(AGENDA) == len(got["codes"])
    names = expand(got["names"])
    assert dict(zip(names, (got["legend"][int(ch)] for ch in got["codes"]), strict=True)) == work
    assert got["counts"] == {"pending": 8, "complete": 1, "blocked": 1}
    assert got["status"] == "pending" and got["seq"] > 0

    got = http.get(f"/api/v1/jobs/{plain}/statuses").json()
    assert (got["names"], got["status"], got["counts"]) == (
        [[1, 500, 1]],
        "blocked",
        {"pending": 500},
    )
    got = http.get(f"/api/v1/jobs/{single}/statuses").json()
    assert (got["total"], got["names"], got["codes"]) == (0, [], "")

    r = http.get("/api/v1/jobs/999999/statuses")
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_such_job"
    assert httpx.get(f"{farm.url}/api/v1/jobs/{mixed}/statuses").status_code == 401
    schema = http.get("/openapi.json").json()
    op = schema["paths"]["/api/v1/jobs/{job_id}/statuses"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ItemStatuses"
    )


def test_compact_names_round_trip() -> None:
    cases = [[], ["5"], ["1", "2", "2"], ["10", "8", "6"], ["-1", "0", "1"], ["x", "1", "+2"],
             [str(i) for i in range(1, 100_001, 3)]]  # fmt: skip
    for names in cases:
        assert (
            expand([list(r) if isinstance(r, tuple) else r for r in compact_names(names)]) == names
        )
    assert len(compact_names(str(i) for i in range(1, 100_001, 3))) == 1
