"""Frame ranges, chunking and frame bounds (triggerfish.model.agenda): pure, no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triggerfish.errors import ValidationError
from triggerfish.model.agenda import frame_bounds, genframes, parse_range, range_items


def names(n: range | list[int]) -> list[str]:
    return [str(i) for i in n]


# ---------------------------------------------------------------- ranges


def test_simple_range_is_every_frame_in_order() -> None:
    assert range_items("1-100") == names(range(1, 101))


def test_range_with_step() -> None:
    assert range_items("1-100x5") == names(range(1, 101, 5))
    assert range_items("1-100x5")[-1] == "96"
    assert range_items("1-10X3") == ["1", "4", "7", "10"]


def test_list_of_parts() -> None:
    assert range_items("1,3,5-9") == ["1", "3", "5", "6", "7", "8", "9"]


def test_descending_range() -> None:
    assert range_items("10-1") == names(range(10, 0, -1))
    assert range_items("10-1x3") == ["10", "7", "4", "1"]


def test_single_frame_and_spaces() -> None:
    assert range_items("7") == ["7"]
    assert range_items(" 1 - 3 , 5 ") == ["1", "2", "3", "5"]


def test_negative_frames() -> None:
    assert range_items("-2-2") == ["-2", "-1", "0", "1", "2"]


def test_parse_range_parts() -> None:
    parts = parse_range("1-10x2,20")
    assert [(p.start, p.end, p.step) for p in parts] == [(1, 10, 2), (20, 20, 1)]
    assert list(parts[0].numbers()) == [1, 3, 5, 7, 9]


def test_genframes_is_qube_shaped() -> None:
    assert genframes("1-3") == [{"name": "1"}, {"name": "2"}, {"name": "3"}]


# ---------------------------------------------------------------- chunks


def test_chunks_are_named_start_end_and_last_is_shorter() -> None:
    assert range_items("1-10", 4) == ["1-4", "5-8", "9-10"]


def test_chunk_of_one_frame_is_named_by_the_frame() -> None:
    assert range_items("1-10", 3) == ["1-3", "4-6", "7-9", "10"]


def test_chunks_follow_the_step() -> None:
    # SPEC §1: `1-100x2`, chunk 10 -> `1-19`, ...
    items = range_items("1-100x2", 10)
    assert items[0] == "1-19"
    assert items[1] == "21-39"
    assert items[-1] == "81-99"
    assert len(items) == 5


def test_chunks_of_a_descending_range() -> None:
    assert range_items("10-1", 4) == ["10-7", "6-3", "2-1"]


def test_chunks_do_not_span_parts() -> None:
    assert range_items("1-3,10-12", 2) == ["1-2", "3", "10-11", "12"]


def test_chunk_larger_than_range() -> None:
    assert range_items("1-5", 100) == ["1-5"]


# ---------------------------------------------------------------- errors name the field


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "1-", "-", "1-10x", "1-10x0", "1--", "1-2-3", "1,,2", "1.5", "1-10y2"],
)
def test_bad_ranges_are_rejected_naming_the_field(text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        range_items(text, field="jobs[3].package.range")
    assert exc.value.field == "jobs[3].package.range"
    assert exc.value.message.startswith("jobs[3].package.range:")


def test_zero_step_says_so() -> None:
    with pytest.raises(ValidationError, match="step must be at least 1"):
        parse_range("1-10x0")


def test_frame_twice_is_rejected() -> None:
    with pytest.raises(ValidationError, match="appears twice") as exc:
        range_items("1-5,3", field="agenda")
    assert exc.value.field == "agenda"


def test_bad_chunk_is_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        range_items("1-10", 0)
    assert exc.value.field == "chunk"


def test_non_string_range_is_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_range(5, field="r")  # type: ignore[arg-type]


def test_too_many_frames_is_rejected() -> None:
    with pytest.raises(ValidationError, match="more than"):
        parse_range("1-20000000", field="r")


# ---------------------------------------------------------------- frame bounds


def test_frame_bounds() -> None:
    assert frame_bounds("5") == (5, 5, 1)
    assert frame_bounds("1-10", 2) == (1, 10, 2)
    assert frame_bounds("-3--1") == (-3, -1, 1)
    assert frame_bounds("shot_010") is None
    assert frame_bounds(None) is None


# ---------------------------------------------------------------- property


def _expand(name: str, step: int) -> list[int]:
    b = frame_bounds(name)
    assert b is not None, name
    a, z, _ = b
    return list(range(a, z + 1, step)) if a <= z else list(range(a, z - 1, -step))


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(-60, 300),
    end=st.integers(-60, 300),
    step=st.integers(1, 25),
    chunk=st.integers(1, 40),
)
def test_chunk_names_cover_exactly_the_frames_in_order(
    start: int, end: int, step: int, chunk: int
) -> None:
    text = f"{start}-{end}x{step}"
    expected = list(parse_range(text)[0].numbers())
    direction = step if start <= end else -step
    assert expected == list(range(start, end + (1 if start <= end else -1), direction))
    items = range_items(text, chunk)
    assert len(items) == len(set(items))  # no duplicate names
    covered = [f for name in items for f in _expand(name, step)]
    assert covered == expected  # every frame, in order, exactly once
    assert len(items) == -(-len(expected) // chunk)
    assert all(len(_expand(n, step)) == chunk for n in items[:-1])  # only the last is short
