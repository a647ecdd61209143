"""An agenda item's own package (Qube's ``Work.package``, issue 18): validated at submission,
stored in ``work.package``, handed to the worker with the item (``Assignment.work_package``)
and read back by the API and ``qb.jobinfo``. Real engine and store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers_engine import Farm, job
from helpers_engine import pull_ahead as pull
from helpers_engine import report_ahead as report

import triggerfish.qb as qb
from triggerfish.errors import ValidationError
from triggerfish.model.jobspec import parse_jobs
from triggerfish.server import convert
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def calls(n: int, every: int = 1) -> list[Any]:
    """An agenda of ``n`` items, every ``every``-th with its own package (the others plain)."""
    return [{"name": str(i), "package": {"args": [i, 2], "fn": "pow"}} if i % every == 0
            else str(i) for i in range(n)]  # fmt: skip


def futures(agenda: list[Any], **fields: Any) -> dict[str, Any]:
    return {"prototype": "qbfutures", "package": {"python": "3"}, "agenda": agenda, **fields}


def test_each_item_gets_its_own_package_and_keeps_it_after_a_restart(farm: Farm) -> None:
    [j] = farm.submit(futures(calls(4, every=2))).jobs
    farm.register("h1", jobtypes=["qbfutures"])
    [a] = pull(farm, "h1", ahead=0).assignments
    assert (a.work, a.work_package, a.package) == ("0", {"args": [0, 2], "fn": "pow"},
                                                   {"python": "3"})  # fmt: skip
    [b] = report(farm, "h1", a.token, ahead=0).assignments
    assert (b.work, b.work_package) == ("1", {})
    assert farm.work(j.id, "0")["package"] == {"args": [0, 2], "fn": "pow"}
    assert farm.work(j.id, "1")["package"] is None
    farm.restart()  # the engine reads the packages back from the store
    farm.register("h1", jobtypes=["qbfutures"])
    [b] = pull(farm, "h1", ahead=0).assignments  # (lost with the old session: runs again)
    assert (b.work, b.work_package) == ("1", {})
    [c] = report(farm, "h1", b.token, ahead=0).assignments
    assert (c.work, c.work_package) == ("2", {"args": [2, 2], "fn": "pow"})


def test_items_held_ahead_come_with_their_packages(farm: Farm) -> None:
    farm.submit(futures(calls(6)))
    farm.register("h1", jobtypes=["qbfutures"])
    [a] = pull(farm, "h1").assignments
    resp = report(farm, "h1", a.token, seconds=0.01)  # short items: the next ones held ahead
    assert len(resp.assignments) > 1
    for x in resp.assignments:
        assert x.work_package == {"args": [int(x.work or ""), 2], "fn": "pow"}


@pytest.mark.parametrize("every", [1, 3])
def test_a_large_agenda_stores_every_package(farm: Farm, every: int) -> None:
    # (past 64 items, new items are written by COPY on PostgreSQL, by one plain statement
    # on SQLite: the package column goes with them)
    [j] = farm.submit(futures(calls(300, every))).jobs
    rows = reads.list_work(farm.db, j.id, limit=1000)
    assert rows is not None and rows[0] == 300
    got = {w["name"]: w["package"] for w in rows[1]}
    assert got == {str(i): {"args": [i, 2], "fn": "pow"} if i % every == 0 else None
                   for i in range(300)}  # fmt: skip


def test_an_ordinary_job_keeps_no_packages_in_memory(farm: Farm) -> None:
    [j] = farm.submit(job("1-500")).jobs
    [k] = farm.submit(futures(calls(10, every=5))).jobs
    assert farm.run(lambda st: st.jobs[j.id].packages) is None
    assert farm.run(lambda st: st.jobs[k.id].packages) == {
        "0": {"args": [0, 2], "fn": "pow"}, "5": {"args": [5, 2], "fn": "pow"}}  # fmt: skip
    assert all(w["package"] is None for w in farm.job(j.id)["agenda"])


def test_the_api_and_jobinfo_show_an_items_package_and_resultpackage(farm: Farm) -> None:
    [j] = farm.submit(futures(calls(2, every=2))).jobs
    farm.register("h1", jobtypes=["qbfutures"])
    [a] = pull(farm, "h1", ahead=0).assignments
    [b] = report(farm, "h1", a.token, ahead=0).assignments  # (with no result)
    detail = convert.job_detail(farm.job(j.id))
    zero, one = detail.agenda
    assert (zero.package, one.package) == ({"args": [0, 2], "fn": "pow"}, {})
    page = reads.list_work(farm.db, j.id, offset=1, limit=1)
    assert page is not None and convert.work_info(page[1][0]).package == {}
    job_out = qb._job_out(detail.model_dump(), {"agenda"}, None)
    assert [w["package"] for w in job_out["agenda"]] == [{"args": [0, 2], "fn": "pow"}, {}]
    # a result package reported with the item is stored as it was sent
    farm.report("h1", b.token, result={"value": 1})
    assert convert.work_info(farm.work(j.id, "1")).resultpackage == {"value": 1}


def test_an_items_package_is_checked_where_it_is(farm: Farm) -> None:
    bad: list[tuple[Any, str]] = [
        ("not a dict", r"jobs\[0\]\.agenda\[1\]\.package"),
        ({"x": float("nan")}, r"jobs\[0\]\.agenda\[1\]\.package"),
    ]
    for package, where in bad:
        with pytest.raises(ValidationError, match=where):
            parse_jobs([futures(["0", {"name": "1", "package": package}])])
    # an empty or null package is none at all
    [nj] = parse_jobs([futures([{"name": "0", "package": {}}, {"name": "1", "package": None}])])
    assert nj.packages == {}


def test_a_prototype_is_a_built_in_one_or_a_job_type_name() -> None:
    for name in ("maya2024", "Nuke-13.2", "studio.tool_x", "q" * 64):
        [nj] = parse_jobs([{"prototype": name, "package": {"any": "thing"}}])
        assert nj.prototype == name and nj.agenda == []
    for name in ("maya 2024", "", "q" * 65, "a/b"):
        with pytest.raises(ValidationError, match=r"^jobs\[0\]\.prototype: .*job type name"):
            parse_jobs([{"prototype": name, "package": {}}])
    with pytest.raises(ValidationError, match=r"jobs\[0\]\.package\.cmdline"):
        parse_jobs([{"prototype": "cmdrange", "package": {"range": "1-2"}}])
    [nj] = parse_jobs([{"prototype": "maya2024", "package": {"range": "1-5x2"}}])
    assert [n for n, _ in nj.agenda] == ["1", "3", "5"]


def test_a_job_type_name_of_64_characters_is_stored(farm: Farm) -> None:
    name = "t" * 64
    [j] = farm.submit({"prototype": name, "package": {}}).jobs
    row = farm.job(j.id)
    assert (row["prototype"], row["name"]) == (name, name)  # (unnamed: the job type's name)
    farm.register("h1", jobtypes=[name])
    [a] = pull(farm, "h1", ahead=0).assignments
    assert (a.job, a.work, a.prototype) == (j.id, None, name)
