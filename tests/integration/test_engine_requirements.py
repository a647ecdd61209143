"""Requirements and hostorder in the real engine and store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job

from triggerfish.engine import placement
from triggerfish.errors import ValidationError


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def _why(farm: Farm, job_id: int) -> str:
    return farm.run(placement.unmatched, [job_id]).get(job_id, "")


def test_only_matching_hosts_get_the_work_after_a_restart_too(farm: Farm) -> None:
    farm.submit(job("1-3", requirements="host.gpu=a100 && host.processors>=2"))
    farm.register("small", 1, properties={"gpu": "a100"})
    farm.register("h100", 2, properties={"gpu": "h100"})
    assert farm.pull("small").assignments == []
    assert farm.pull("h100").assignments == []
    assert _why(farm, 1) == "no host matches requirements host.gpu=a100 && host.processors>=2"
    farm.restart()  # the job's requirements come back from the store
    farm.register("big", 2, properties={"gpu": "a100"})
    assert _why(farm, 1) == ""
    assert farm.run_all("big") == 3
    assert {w["host"] for w in farm.job(1)["agenda"]} == {"big"}


def test_modify_requirements_and_hostorder(farm: Farm) -> None:
    farm.submit(job("1-2", requirements="host.site=par"))
    farm.register("h1", 1, properties={"site": "lon"})
    assert farm.pull("h1").assignments == []
    farm.control("modify", 1, fields={"requirements": "host.site=lon", "hostorder": "-host.x"})
    assert farm.job(1)["fields"]["requirements"] == "host.site=lon"
    assert [a.job for a in farm.pull("h1").assignments] == [1]
    with pytest.raises(ValidationError) as exc:
        farm.control("modify", 1, fields={"requirements": "host.site="})
    assert exc.value.field == "fields.requirements"
    assert "column 11" in exc.value.message
