"""Job specifications (model.jobspec): strict validation, errors that name jobs[i].field."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from triggerfish.errors import ValidationError
from triggerfish.model.jobspec import JobSpec, normalize, parse_jobs
from triggerfish.model.tasks import TaskRequest

CMD = {"cmdline": "render -f $QB_FRAME_NUMBER"}


def one(**fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"package": dict(CMD)}
    out.update(fields)
    return out


def rejected(raw: Any) -> ValidationError:
    with pytest.raises(ValidationError) as exc:
        parse_jobs(raw)
    return exc.value


# ---------------------------------------------------------------- accepted shapes


def test_minimal_cmdline_job_gets_defaults() -> None:
    [nj] = parse_jobs([one()])
    assert nj.prototype == "cmdline"
    assert nj.agenda == []
    assert nj.spec.priority == 9999
    assert nj.spec.cpus == 1
    assert nj.spec.status == "pending"
    assert nj.spec.label is None


def test_submission_shapes() -> None:
    assert len(parse_jobs({"jobs": [one(), one()]})) == 2
    assert len(parse_jobs(one())) == 1  # a single job dict


def test_range_in_package_makes_a_cmdrange_agenda() -> None:
    [nj] = parse_jobs([{"package": {**CMD, "range": "1-10x2", "chunk": 2}}])
    assert nj.prototype == "cmdrange"
    assert [n for n, _ in nj.agenda] == ["1-3", "5-7", "9"]
    assert {st for _, st in nj.agenda} == {"pending"}
    assert nj.step == 2


def test_agenda_string_is_a_range() -> None:
    [nj] = parse_jobs([one(agenda="1-3")])
    assert nj.agenda == [("1", "pending"), ("2", "pending"), ("3", "pending")]


def test_agenda_dicts_keep_blocked_and_complete_status() -> None:
    [nj] = parse_jobs(
        [
            one(
                agenda=[
                    {"name": "a", "status": "blocked"},
                    "b",
                    {"name": "c", "status": "complete"},
                    {"name": "d"},
                ]
            )
        ]
    )
    assert nj.agenda == [("a", "blocked"), ("b", "pending"), ("c", "complete"), ("d", "pending")]
    assert nj.prototype == "cmdrange"


def test_hosts_and_groups_accept_comma_strings() -> None:
    [nj] = parse_jobs([one(hosts="a, b,,c", groups=["gpu"], omithosts="x")])
    assert nj.spec.hosts == ["a", "b", "c"]
    assert nj.spec.groups == ["gpu"]
    assert nj.spec.omithosts == ["x"]


def test_whole_number_delay_is_accepted() -> None:
    [nj] = parse_jobs([one(retrywork_delay=3)])
    assert nj.spec.retrywork_delay == 3.0


def test_task_prototype_needs_no_cmdline() -> None:
    [nj] = parse_jobs([{"prototype": "task", "package": {"target": "m:f"}}])
    assert nj.prototype == "task"


@pytest.mark.parametrize("label", ["a", "_x", "render.v2", "Comp_01"])
def test_good_labels(label: str) -> None:
    [nj] = parse_jobs([one(label=label)])
    assert nj.spec.label == label


# ---------------------------------------------------------------- rejected, naming jobs[i].field


def test_unknown_field() -> None:
    err = rejected([one(), one(nmae="x")])
    assert err.field == "jobs[1].nmae"
    assert err.message == "jobs[1].nmae: unknown field; did you mean 'name'?"
    err = rejected([one(colour="red")])
    assert err.message == "jobs[0].colour: unknown field"  # nothing close: no guess


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpus", "2"),
        ("priority", "high"),
        ("priority", 1.5),
        ("name", 5),
        ("hosts", 5),
        ("env", {"A": 1}),
        ("retrywork", True),
        ("package", "echo"),
    ],
)
def test_wrong_type(field: str, value: Any) -> None:
    err = rejected([one(**{field: value})])
    assert err.field is not None and err.field.startswith(f"jobs[0].{field}")
    assert err.message.startswith(f"jobs[0].{field}")


@pytest.mark.parametrize(("field", "value"), [("priority", 0), ("priority", 10000), ("cpus", 0)])
def test_out_of_bounds(field: str, value: int) -> None:
    err = rejected([one(**{field: value})])
    assert err.field == f"jobs[0].{field}"


def test_label_with_dash_is_rejected() -> None:
    err = rejected([one(label="ok"), one(label="comp-v2")])
    assert err.field == "jobs[1].label"
    assert "'-'" in err.message and err.message.startswith("jobs[1].label")


@pytest.mark.parametrize("label", ["1abc", "9", "", "a b", "a/b", "ü"])
def test_label_starting_with_digit_or_odd_chars_is_rejected(label: str) -> None:
    err = rejected([one(label=label)])
    assert err.field == "jobs[0].label"


def test_duplicate_labels_in_one_submission() -> None:
    err = rejected([one(label="a"), one(label="b"), one(label="a")])
    assert err.field == "jobs[2].label"
    assert "jobs[0]" in err.message


def test_bad_status_of_job_and_of_agenda_item() -> None:
    assert rejected([one(status="running")]).field == "jobs[0].status"
    err = rejected([one(agenda=["a", {"name": "b", "status": "running"}])])
    assert err.field == "jobs[0].agenda[1].status"
    err = rejected([one(agenda=[{"name": "a", "oops": 1}])])
    assert err.field == "jobs[0].agenda[0].oops"


def test_duplicate_agenda_names() -> None:
    err = rejected([one(agenda=["a", "b", "a"])])
    assert err.message.startswith("jobs[0].agenda[2].name")


def test_bad_range_names_the_field() -> None:
    err = rejected([one(), {"package": {**CMD, "range": "1-x"}}])
    assert err.field == "jobs[1].package.range"
    assert err.message.startswith("jobs[1].package.range:")
    err = rejected([one(agenda="5-1x0")])
    assert err.field == "jobs[0].agenda"


def test_bad_chunk() -> None:
    err = rejected([{"package": {**CMD, "range": "1-3", "chunk": 0}}])
    assert err.message.startswith("jobs[0].package.chunk")
    err = rejected([{"package": {**CMD, "range": "1-3", "chunk": "2"}}])
    assert err.message.startswith("jobs[0].package.chunk")


def test_range_and_agenda_list_together_are_rejected() -> None:
    err = rejected([{"package": {**CMD, "range": "1-3"}, "agenda": ["a"]}])
    assert err.message.startswith("jobs[0]")
    assert "not both" in err.message


def test_cmdrange_without_cmdline_is_rejected() -> None:
    err = rejected([{"prototype": "cmdrange", "package": {"range": "1-3"}}])
    assert err.message.startswith("jobs[0].package.cmdline")
    err = rejected([{"package": {"range": "1-3", "cmdline": "   "}}])
    assert err.message.startswith("jobs[0].package.cmdline")
    err = rejected([{"package": {"range": "1-3", "cmdline": ["echo"]}}])
    assert err.message.startswith("jobs[0].package.cmdline")


def test_cmdrange_without_agenda_is_rejected() -> None:
    err = rejected([{"prototype": "cmdrange", "package": dict(CMD)}])
    assert err.message.startswith("jobs[0]")
    assert "agenda" in err.message


def test_cmdline_job_without_cmdline_is_rejected() -> None:
    err = rejected([{"package": {}}])
    assert err.message.startswith("jobs[0].package.cmdline")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("host.processors=two", "host.processors needs a whole number, not 'two' at column 1"),
        ("global.maya=1, host.gpu=1", "unknown resource 'host.gpu'"),
        ("host.memory=1,,global.a=1", "an empty item at column 15"),
    ],
)
def test_bad_reservations_are_rejected_naming_the_column(value: str, problem: str) -> None:
    err = rejected([one(), one(reservations=value)])
    assert err.message.startswith("jobs[1].reservations")
    assert problem in err.message


def test_reservations_are_kept_as_written() -> None:
    [nj] = parse_jobs([one(reservations="host.processors=2, global.maya=1")])
    assert nj.spec.reservations == "host.processors=2, global.maya=1"


def test_not_yet_supported_fields_are_accepted_when_empty() -> None:
    [nj] = parse_jobs([one(callbacks=[], dependency="", requirements="")])
    assert nj.spec.callbacks == []


@pytest.mark.parametrize("raw", [[], "job", None, [1], [[]], {"jobs": []}])
def test_not_a_list_of_job_dicts(raw: Any) -> None:
    err = rejected(raw)
    assert err.field in ("jobs", "jobs[0]")


def test_validation_is_pure() -> None:
    raw = [one(agenda=[{"name": "a", "status": "blocked"}])]
    before = repr(raw)
    parse_jobs(raw)
    assert repr(raw) == before


def test_normalize_names_the_location() -> None:
    spec = JobSpec.model_validate({"prototype": "cmdrange", "package": {"cmdline": "x"}})
    with pytest.raises(ValidationError) as exc:
        normalize(spec, "jobs[7]")
    assert exc.value.message.startswith("jobs[7]")


# ---------------------------------------------------------------- bugs


def test_step_with_colon_syntax_is_kept() -> None:
    [nj] = parse_jobs([{"package": {**CMD, "range": "1-20:2", "chunk": 2}}])
    assert [n for n, _ in nj.agenda][:2] == ["1-3", "5-7"]
    assert nj.step == 2


def test_step_of_multi_part_range_is_kept() -> None:
    [nj] = parse_jobs([{"package": {**CMD, "range": "1-9x2,21-29x2", "chunk": 2}}])
    assert [n for n, _ in nj.agenda][:1] == ["1-3"]
    assert nj.step == 2


def test_range_and_agenda_string_together_are_rejected() -> None:
    err = rejected([{"package": {**CMD, "range": "1-100"}, "agenda": "1-3"}])
    assert "not both" in err.message


def test_bad_requirements_error_names_the_field_and_column() -> None:
    err = rejected([one(), one(requirements="host.os=linux &&")])
    assert err.field == "jobs[1].requirements"
    assert err.message.startswith("jobs[1].requirements:")
    assert "column 17" in err.message


def test_requirements_and_hostorder_are_accepted() -> None:
    [nj] = parse_jobs([one(requirements="host.os=linux", hostorder="-host.memory.avail")])
    assert nj.spec.requirements == "host.os=linux"
    assert nj.spec.hostorder == "-host.memory.avail"


def test_bad_hostorder_names_the_field_and_column() -> None:
    err = rejected([one(hostorder="+host.processor.avail, memory")])
    assert err.field == "jobs[0].hostorder"
    assert "column 24" in err.message


@pytest.mark.parametrize(
    ("callback", "field", "text"),
    [
        ({"triggers": "complete-job-1 &&", "code": "unblock-self"}, "triggers", "column 18"),
        ({"triggers": "complete-job-1", "code": "explode"}, "code", "unknown qube action"),
        ({"triggers": "complete-job-1", "code": ""}, "code", "at least one action"),
        ({"triggers": "complete-job-1", "language": "cobol", "code": "x"}, "language", "cobol"),
        ({"triggers": "complete-job-1", "language": "perl", "code": " "}, "code",
         "a perl callback needs code"),
        ({"triggers": "complete-job-1", "language": "exec", "code": "a 'b"}, "code",
         "not a command line"),
        ({"triggers": "complete-job-1", "language": "python", "code": "x = ("}, "code",
         "line 1"),
        ({"triggers": "complete-job-1", "code": "unblock-self", "colour": 1}, "colour",
         "unknown field"),
    ],
)  # fmt: skip
def test_bad_callbacks_are_refused_naming_the_field(
    callback: dict[str, Any], field: str, text: str
) -> None:
    err = rejected([one(), one(callbacks=[{"triggers": "done-job-self", "code": "kill-self"},
                                          callback])])  # fmt: skip
    assert err.field == f"jobs[1].callbacks[1].{field}"
    assert text in err.message


def test_a_job_whose_callbacks_mail_needs_a_mailaddress() -> None:
    for cb in ({"triggers": "done-job-self", "language": "mail"},
               {"triggers": "done-job-self", "code": "unblock-self mail-status"}):  # fmt: skip
        err = rejected([one(), one(callbacks=[cb])])
        assert err.message.startswith("jobs[1]") and "mailaddress" in err.message
        [_, ok] = parse_jobs([one(), one(callbacks=[cb], mailaddress="a@b.c")])
        assert ok.spec.callbacks[0].triggers == "done-job-self"


def test_dependency_blocks_the_job_or_its_items() -> None:
    [a, b] = parse_jobs(
        [
            one(label="render", dependency="link-complete-work-ribgen", agenda="1-3"),
            one(dependency="complete-job-render, 12"),
        ]
    )
    assert {st for _, st in a.agenda} == {"blocked"} and not a.blocked_by_dependency
    assert [(src, cb.triggers, cb.code) for src, cb in a.callbacks] == [
        ("dependency", "complete-work-ribgen-$f", "unblock-work-self"),
        ("dependency", "failed-work-ribgen-$f || killed-work-ribgen-$f", "note-upstream-self"),
    ]
    assert b.blocked_by_dependency and "complete-job-render" in b.reason
    assert b.callbacks[0][1].triggers == "complete-job-render && complete-job-12"


@pytest.mark.parametrize("dep", ["link-complete-frame-x", "1,,2", "link-done-job-a-b-c"])
def test_bad_dependency_is_refused(dep: str) -> None:
    err = rejected([one(dependency=dep)])
    assert err.field == "jobs[0].dependency"


def test_normalize_error_fields_carry_the_job_index() -> None:
    fields = [
        rejected([one(), {"package": {"range": "1-3"}}]).field,
        rejected([one(), {"package": {**CMD, "range": "1-3", "chunk": 0}}]).field,
        rejected([one(), one(agenda=["a", "a"])]).field,
    ]
    assert all(f is not None and f.startswith("jobs[1].") for f in fields), fields


@pytest.mark.parametrize("field", ["pid", "pgrp"])
def test_pid_and_pgrp_out_of_column_range_are_rejected(field: str) -> None:
    err = rejected([one(**{field: 2**40})])
    assert err.field == f"jobs[0].{field}"


@pytest.mark.parametrize("field", ["label", "user"])
def test_over_long_label_and_user_are_rejected(field: str) -> None:
    err = rejected([one(**{field: "a" * 300})])
    assert err.field == f"jobs[0].{field}"


def test_every_json_column_is_encoded_by_the_raw_writer() -> None:
    import sqlalchemy as sa

    from triggerfish.store import rawsql
    from triggerfish.store import tables as t

    json_columns = {
        c.name for table in t.metadata.tables.values() for c in table.c
        if isinstance(c.type, sa.JSON)
    }  # fmt: skip
    assert json_columns <= rawsql.JSON_COLUMNS


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"package": {"cmdline": "x", "gamma": float("nan")}}, "jobs[0].package.gamma"),
        ({"package": {"cmdline": "x", "v": [1, {"w": float("-inf")}]}}, "jobs[0].package.v[1].w"),
        ({"data": {"shot": float("inf")}}, "jobs[0].data.shot"),
        ({"timeout": float("inf")}, "jobs[0].timeout"),
        ({"retrywork_delay": float("nan")}, "jobs[0].retrywork_delay"),
    ],
)
def test_nan_and_infinity_are_refused_where_they_are(fields: dict[str, Any], field: str) -> None:
    # Python's json reads NaN and Infinity; JSON has no such numbers and the store cannot
    # keep them as they are
    job = {"name": "n", "package": {"cmdline": "x"}, **fields}
    err = rejected([job])
    assert err.field == field
    assert field in str(err)


def test_a_task_with_nan_in_its_params_or_an_infinite_timeout_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="finite"):
        TaskRequest.model_validate_json('{"target": "m:f", "timeout": Infinity}')
    req = TaskRequest.model_validate({"target": "m:f", "params": {"a": [1, float("nan")]}})
    # named as the caller sent it (a task's params), not as the job it becomes
    with pytest.raises(ValidationError) as caught:
        req.checked_job()
    assert caught.value.field == "params.a[1]"
    with pytest.raises(ValidationError) as caught:
        req.checked_job("tasks[2].")
    assert caught.value.field == "tasks[2].params.a[1]"
    assert "is not a JSON number" in str(caught.value)
    # the job path still refuses it too (a task's job built another way)
    assert rejected([req.job()]).field == "jobs[0].package.params.a[1]"
