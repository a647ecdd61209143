"""Times users write: ISO-8601 with zone, Qube seconds, +DURATION; ``after`` and timelimits
in the job dict."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from triggerfish.errors import ValidationError
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.when import parse_duration, parse_when, time_atom_text
from triggerfish.triggers import parse

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        ("2026-12-01T18:00+01:00", datetime(2026, 12, 1, 17, tzinfo=UTC).timestamp()),
        ("2026-12-01T17:00:00Z", datetime(2026, 12, 1, 17, tzinfo=UTC).timestamp()),
        ("100", 100 + 946702800),
        (100, 100 + 946702800),
        ("+90s", NOW + 90),
        ("+90", NOW + 90),
        ("+5m", NOW + 300),
        ("+1h30m", NOW + 5400),
        ("+2d", NOW + 2 * 86400),
        ("+0.5s", NOW + 0.5),
    ],
)
def test_parse_when(text: str | int, unix: float) -> None:
    assert parse_when(text, NOW).timestamp() == pytest.approx(unix)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-01T18:00", "no zone"),
        ("tomorrow", "ISO-8601"),
        ("+", "ISO-8601"),
        ("+5x", "ISO-8601"),
        (True, "ISO-8601"),
        (-5, "out of range"),
    ],
)
def test_parse_when_refuses(text: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_when(text, NOW)


def test_time_atom_text_parses_back_to_the_same_moment() -> None:
    moment = parse_when("2026-12-01T18:00:00.25+01:00", NOW)
    text = time_atom_text(moment)
    assert text == "2026-12-01T17:00:00.250000Z"
    atom = parse(f"dummy-time-self-{text}")
    assert atom.unix_time() == moment.timestamp()  # type: ignore[union-attr]


def _job(**fields: Any) -> dict[str, Any]:
    return {"package": {"cmdline": "true"}, **fields}


def test_after_holds_the_job_with_a_time_callback() -> None:
    [nj] = parse_jobs([_job(after="+1h")])
    assert nj.blocked_by_dependency
    [(source, cb)] = nj.callbacks
    assert source == "dependency" and cb.code == "unblock-self"
    assert cb.triggers == f"dummy-time-self-{nj.spec.after}"
    assert nj.spec.after is not None and nj.spec.after.endswith("Z")  # resolved, absolute
    held = parse_when(nj.spec.after, 0).timestamp()
    assert time.time() + 3590 < held < time.time() + 3610
    assert nj.reason == f"held until {nj.spec.after}"


def test_after_combines_with_a_dependency() -> None:
    [nj] = parse_jobs([_job(after="+1h", dependency="complete-job-3")])
    job_level = [cb for _, cb in nj.callbacks if cb.code == "unblock-self"]
    assert len(job_level) == 1  # both must hold: one callback, AND
    assert job_level[0].triggers.startswith("complete-job-3 && dummy-time-self-")
    assert nj.reason.startswith("waiting for complete-job-3; held until ")


def test_after_in_the_past_holds_nothing() -> None:
    [nj] = parse_jobs([_job(after="2001-01-01T00:00Z")])
    assert not nj.blocked_by_dependency and nj.callbacks == []


@pytest.mark.parametrize("value", ["next week", "2026-12-01T18:00", 1.5, ["x"]])
def test_bad_after_is_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_jobs([_job(), _job(after=value)])
    assert info.value.message.startswith("jobs[1].after")


def test_timeouts_and_qube_timelimits() -> None:
    [plain] = parse_jobs([_job(timeout=10, agenda_timeout=2.5)])
    assert (plain.spec.timeout, plain.spec.agenda_timeout) == (10.0, 2.5)
    assert plain.callbacks == []
    [limited] = parse_jobs([_job(timelimit=10, agenda_timelimit=3)])
    assert (limited.spec.timeout, limited.spec.agenda_timeout) == (10.0, 3.0)
    assert [(cb.triggers, cb.code) for _, cb in limited.callbacks] == [
        ("timeout-subjob-self-*", "fail-subjob-self"),
        ("timeout-work-self-*", "fail-work-self"),
    ]
    with pytest.raises(ValidationError) as info:
        parse_jobs([_job(timeout=0)])
    assert info.value.message.startswith("jobs[0].timeout")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400.0), ("12h", 43200.0), ("1h30m", 5400.0), ("90s", 90.0), ("90", 90.0),
     ("0", 0.0), ("1.5s", 1.5)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "30 days", "-5s", "1w", "+5m"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected a duration \(30d, 12h, 1h30m, 90s\)"):
        parse_duration(text)


def test_the_supervisor_refuses_a_bad_retention() -> None:
    from click.testing import CliRunner

    from triggerfish.cli.main import cli

    result = CliRunner().invoke(cli, ["supervisor", "--retention", "a month"])
    assert result.exit_code == 2
    assert "--retention" in result.output and "expected a duration" in result.output
