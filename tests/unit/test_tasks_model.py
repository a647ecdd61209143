"""The pure part of tasks: targets, params, the task job, the @task mark, services."""

from __future__ import annotations

from typing import Any

import pytest

from triggerfish.errors import ValidationError
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.tasks import (
    ParamsError,
    ScheduleRequest,
    TaskRequest,
    check_target,
    decode_params,
    encode_params,
    join_target,
    target_of,
)
from triggerfish.tasks import TargetError, is_task, register_service, task, unregister_service
from triggerfish.tasks.api import schedule_id, when
from triggerfish.tasks.registry import resolve


@task
def marked(params: Any) -> Any:
    return params


def unmarked(params: Any) -> Any:
    return params


@pytest.mark.parametrize("good", ["m:f", "pkg.mod:fn", "mod:Class.method", "_a.b_2:c_3"])
def test_good_targets(good: str) -> None:
    assert check_target(good) == good


@pytest.mark.parametrize("bad", ["", "m", "m:", ":f", "m:f:g", "m f:g", "1m:f", "m:f()", 3])
def test_bad_targets_name_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        check_target(bad, "jobs[0].package.target")
    assert err.value.field == "jobs[0].package.target"


def test_amsoil_pair_and_functions_become_targets() -> None:
    assert join_target("myservice", "mymethod") == "myservice:mymethod"
    assert target_of(marked) == f"{__name__}:marked"
    assert target_of("a.b:c") == "a.b:c"
    with pytest.raises(ValidationError, match="not importable"):
        target_of(lambda p: p)


def test_params_json_and_pickle() -> None:
    assert decode_params(encode_params({"a": [1]}), "json") == {"a": [1]}
    assert decode_params(encode_params({1, 2}, "pickle"), "pickle") == {1, 2}
    with pytest.raises(ValidationError, match="params: not JSON"):
        encode_params({1, 2})
    for raw, why in [("%%", "not base64"), ("eHl6", "does not load"), (3, "base64 text")]:
        with pytest.raises(ParamsError, match=why):
            decode_params(raw, "pickle")
    with pytest.raises(ParamsError, match="unknown encoding"):
        decode_params("x", "yaml")


def test_a_task_is_a_job_with_one_item() -> None:
    req = TaskRequest(target="m:f", params=[1], retries=2, timeout=5)
    [job] = parse_jobs([req.job()])
    assert job.prototype == "task" and job.agenda == [("task", "pending")]
    assert job.spec.retrywork == 2 and job.spec.package["timeout"] == 5
    assert req.options() == {"retries": 2, "timeout": 5.0}


@pytest.mark.parametrize(
    ("package", "field"),
    [({"target": "m"}, "package.target"), ({"target": "m:f", "encoding": "yaml"}, "encoding"),
     ({"target": "m:f", "encoding": "pickle", "params": 1}, "package.params"),
     ({"target": "m:f", "timeout": -1}, "timeout"), ({"target": "m:f", "x": 1}, "package.x")],
)  # fmt: skip
def test_bad_task_packages_are_refused(package: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_jobs([{"prototype": "task", "package": package}])
    assert field in err.value.message


def test_schedule_requests() -> None:
    req = ScheduleRequest(target="m:f", every=60, key="k")
    assert req.policy == "skip" and req.start is None
    with pytest.raises(ValueError, match="start, not at"):
        ScheduleRequest(target="m:f", every=60, at=1.0)
    with pytest.raises(ValueError):
        ScheduleRequest(target="m:f", every=0)
    assert schedule_id("r12") == 12 and schedule_id("12") is None and schedule_id(12) is None
    assert when(5, "at") == 5.0
    with pytest.raises(ValidationError, match="at: expected a datetime"):
        when("tomorrow", "at")  # type: ignore[arg-type]


class Svc:
    built = 0

    def __init__(self) -> None:
        Svc.built += 1

    @task
    def go(self, params: Any) -> Any:
        return params

    def nope(self, params: Any) -> Any:
        return params


def test_resolve_marks_modules_and_services() -> None:
    assert is_task(marked) and not is_task(unmarked)
    assert resolve(f"{__name__}:marked") is marked
    with pytest.raises(TargetError, match=r"not marked with @triggerfish\.tasks\.task"):
        resolve(f"{__name__}:unmarked")
    with pytest.raises(TargetError, match="has no attribute 'missing'"):
        resolve(f"{__name__}:missing")
    with pytest.raises(TargetError, match="no module 'no_such_mod'"):
        resolve("no_such_mod:f")
    register_service("svc_for_test", Svc)
    try:
        assert Svc.built == 0  # a factory is called on first use, once
        assert resolve("svc_for_test:go")(3) == 3
        assert resolve("svc_for_test:go")(4) == 4 and Svc.built == 1
        with pytest.raises(TargetError, match="not marked"):
            resolve("svc_for_test:nope")
    finally:
        unregister_service("svc_for_test")
