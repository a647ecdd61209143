"""model.reservations: Qube's reservation lists, parsed once, errors naming the column."""

from __future__ import annotations

import pytest

from triggerfish.model.reservations import (
    PLAIN,
    Reservation,
    ReservationsError,
    parse,
    reservation,
)


def test_every_resource_kind() -> None:
    r = parse("host.processors=2, host.memory=4000, global.maya=1,global.nuke=2")
    assert r == Reservation(2, False, 4000, (("maya", 1), ("nuke", 2)))
    assert r.text() == "host.processors=2,host.memory=4000,global.maya=1,global.nuke=2"


def test_the_whole_host_and_the_plain_one() -> None:
    assert parse("host.processors=1+") == Reservation(1, True)
    assert parse("") is PLAIN and parse("host.processors=1") is PLAIN
    assert reservation(None) is PLAIN and reservation("host.gpu=1") is PLAIN  # (stored, unread)


@pytest.mark.parametrize(
    ("text", "problem", "column"),
    [
        ("global.maya", "'global.maya' needs '=quantity'", 1),
        ("host.processors=0", "host.processors=0 is out of range", 1),
        ("host.memory=1, host.memory=2", "host.memory is given twice", 16),
        ("global.=1", "unknown resource 'global.'", 1),
        ("global.a=1,", "an empty item", 12),
        ("host.processors=-1", "needs a whole number", 1),
    ],
)
def test_errors_name_the_problem_and_column(text: str, problem: str, column: int) -> None:
    with pytest.raises(ReservationsError) as err:
        parse(text)
    assert problem in str(err.value)
    assert err.value.column == column
