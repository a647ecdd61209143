"""Requirements expressions and hostorder (model.requirements), host facts (engine.hostfacts)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triggerfish.engine.hostfacts import MB, facts_now, host_facts
from triggerfish.engine.objects import HostRT, JobRT
from triggerfish.model.requirements import (
    RequirementsError,
    matches,
    parse,
    parse_hostorder,
    rank,
)

FACTS: dict[str, Any] = {
    "host.name": "r1",
    "host.os": "linux",
    "host.gpu": "a100",
    "host.memory.avail": 16000,
    "host.processors": 8,
    "host.fast": True,
    "host.slow": False,
    "host.site": "lon",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host.gpu=a100", True),
        ("host.gpu==a100", True),
        ("host.gpu eq a100", True),
        ("host.gpu=h100", False),
        ("host.gpu!=h100", True),
        ("host.gpu <> a100", False),
        ("host.memory.avail>=8000 && host.os=linux", True),
        ("host.memory.avail>=80000 || host.os=linux", True),
        ("host.memory.avail>=80000 or host.os=windows", False),
        ("host.memory.avail gt 9e3 and host.processors le 8", True),
        ("!host.gpu", False),
        ("not host.nope", True),
        ("host.fast", True),
        ("host.slow", False),
        ("host.fast=true", True),
        ("host.nope", False),
        ("host.nope=x", False),
        ("host.nope!=x", True),
        ("host.nope<5", False),
        ("host.name in 'r1,r2'", True),
        ('host.name in "r2, r3"', False),
        ("'lon, par' has host.site", True),
        ("!(host.gpu=h100 || host.gpu=v100) && host.site=lon", True),
        ("host.name='r1'", True),
    ],
)
def test_expressions(text: str, expected: bool) -> None:
    assert matches(text, FACTS) is expected


def test_empty_requirements_match_any_host() -> None:
    assert matches("", {})


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6))
def test_numbers_compare_as_numbers(a: int, b: int) -> None:
    facts = {"host.x": a}
    assert matches(f"host.x<{b}", facts) is (a < b)
    assert matches(f"host.x>={b}", facts) is (a >= b)
    assert matches(f"host.x={b}", {"host.x": str(a)}) is (a == b)


@given(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), st.integers(0, 99))
def test_text_and_number_compare_as_text(word: str, n: int) -> None:
    facts = {"host.x": word}
    assert matches(f"host.x<{n}", facts) is (word < str(n))
    assert matches(f"host.x={n}", facts) is False


@given(st.booleans(), st.booleans(), st.booleans())
def test_and_binds_tighter_than_or_and_not_tighter_still(a: bool, b: bool, c: bool) -> None:
    facts = {"host.a": a, "host.b": b, "host.c": c}
    assert matches("host.a || host.b && host.c", facts) is (a or (b and c))
    assert matches("host.a && host.b || host.c", facts) is ((a and b) or c)
    assert matches("!host.a && host.b", facts) is ((not a) and b)
    assert matches("!(host.a || host.b)", facts) is (not (a or b))
    assert matches("not not host.a", facts) is a


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("host.gpu=", 10, "expected a host fact or a value"),
        ("host.gpu=a100 &", 15, "write '&&'"),
        ("host.gpu=a100 && (host.os=linux", 32, "expected ')'"),
        ("host.gpu a100", 10, "got 'a100'"),
        ("host.=1", 1, "names no fact"),
        ("job.user=x", 1, "not supported"),
        ("host.a = = b", 10, "got '='"),
        ("   ", 1, "empty"),
    ],
)
def test_errors_name_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(RequirementsError) as exc:
        parse(text)
    assert exc.value.column == column
    assert f"at column {column}" in str(exc.value)
    assert words in str(exc.value)


@given(st.text(max_size=40))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        check = parse(text)
    except RequirementsError:
        return
    assert check(FACTS) in (True, False)


def test_hostorder() -> None:
    keys = parse_hostorder("+host.processor.avail, -host.memory.avail,host.x")
    assert [(k.fact, k.largest_first) for k in keys] == [
        ("host.processor.avail", True),
        ("host.memory.avail", False),
        ("host.x", True),
    ]
    hosts = [
        {"host.processor.avail": 2, "host.memory.avail": 100},
        {"host.processor.avail": 4, "host.memory.avail": 900},
        {"host.processor.avail": 4, "host.memory.avail": 200},
        {"host.memory.avail": 1},
    ]
    best = sorted(range(4), key=lambda i: rank(keys, hosts[i]))
    assert best == [2, 1, 0, 3]


@pytest.mark.parametrize(("text", "column"), [("host.a,,host.b", 8), ("+gpu", 1), ("x y", 1)])
def test_hostorder_errors(text: str, column: int) -> None:
    with pytest.raises(RequirementsError) as exc:
        parse_hostorder(text)
    assert exc.value.column == column


def _host(name: str = "h1", slots: int = 4, **props: Any) -> HostRT:
    return HostRT(name, "active", slots, props, [], None, None, None, None)


def test_host_facts() -> None:
    host = _host(os="linux", memory=32 * 1024 * MB, gpu="a100", site="lon")
    facts = host_facts(host, 3)
    assert facts == {
        "host.name": "h1",
        "host.os": "linux",
        "host.processors": 4,
        "host.processor.avail": 3,
        "host.memory": 32 * 1024,
        "host.memory.avail": 32 * 1024,
        "host.gpu": "a100",
        "host.site": "lon",
    }
    small = _host(memory=8 * MB)
    assert host_facts(small, 1)["host.memory.avail"] == 8  # the total until the worker says
    small.memory_avail = 2 * MB  # what the worker's last pull said (bytes)
    assert host_facts(small, 1)["host.memory.avail"] == 2


def test_facts_follow_free_slots_and_new_properties() -> None:
    host = _host("h-memo", gpu="a100")
    assert facts_now(host)["host.processor.avail"] == 4
    host.attempts["t"] = None  # type: ignore[assignment]
    assert facts_now(host)["host.processor.avail"] == 3
    host.properties = {"gpu": "h100"}
    assert facts_now(host)["host.gpu"] == "h100"


def _job(**fields: Any) -> JobRT:
    return JobRT(1, 1, None, "", "j", "u", 9999, "pending", "cmdline", 1, 1, "", {}, fields, 0.0)


def test_eligible_checks_requirements() -> None:
    a100, h100 = _host("a", gpu="a100"), _host("b", gpu="h100")
    job = _job(requirements="host.gpu=a100")
    assert job.eligible(a100)
    assert not job.eligible(h100)
    assert _job(requirements="").eligible(h100)
    assert not _job(requirements="host.gpu=a100 &&").eligible(a100)  # stored by another version
