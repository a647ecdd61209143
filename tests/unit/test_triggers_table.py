"""The per-job table of the trigger index: frame numbers in a flat array, other extras in a
dict, and the two never confused."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from triggerfish.triggers.index import Match, TriggerIndex
from triggerfish.triggers.table import (
    ATOM_BITS,
    MIN_SPAN,
    RATIO,
    SMALL_BUCKET,
    SPILL,
    Table,
    frame_number,
)


def got(table: Table, extra: str) -> set[tuple[int, int]]:
    out: list[Match] = []
    table.collect(out, extra)
    assert len(out) == len({(m.callback_id, m.atom_no) for m in out})
    return {(m.callback_id, m.atom_no) for m in out}


def packed(callback_id: int, atom_no: int = 0) -> int:
    return callback_id << ATOM_BITS | atom_no


def test_frame_numbers_are_canonical_ascii_decimals() -> None:
    assert frame_number("0") == 0
    assert frame_number("7") == 7
    assert frame_number("1001") == 1001
    assert frame_number("9" * 18) == int("9" * 18)
    for text in ("", "0010", "010", "00", "+7", "-7", " 7", "7 ", "1_0", "1-10", "r7", "7.0"):
        assert frame_number(text) is None, text
    assert frame_number("\u0661\u0660") is None  # Arabic-Indic "10": int() would take it
    assert frame_number("\u00b2") is None  # superscript two: isdigit() but no number
    assert frame_number("9" * 19) is None
    assert frame_number("1" * 5000) is None  # int() refuses more than 4300 digits
    assert frame_number(None) is None


def test_leading_zeros_are_another_work_name() -> None:
    index = TriggerIndex()
    index.add(1, 0, ("complete", "work", 2, "10"))
    index.add(2, 0, ("complete", "work", 2, "0010"))
    index.add(3, 0, ("complete", "work", 2, "0"))
    index.add(4, 0, ("complete", "work", 2, "\u0661\u0660"))
    assert [m.callback_id for m in index.match("complete", "work", 2, "10")] == [1]
    assert [m.callback_id for m in index.match("complete", "work", 2, "0010")] == [2]
    assert [m.callback_id for m in index.match("complete", "work", 2, "0")] == [3]
    assert [m.callback_id for m in index.match("complete", "work", 2, "\u0661\u0660")] == [4]
    for other in ("010", "00", "+10", " 10", "1_0", "1" * 5000):
        assert index.match("complete", "work", 2, other) == [], other
    assert index.remove(2) == 1
    assert [m.callback_id for m in index.match("complete", "work", 2, "10")] == [1]
    assert index.match("complete", "work", 2, "0010") == []


def test_numbers_and_names_side_by_side() -> None:
    table = Table()
    for cb, extra in enumerate(["1", "2", "1-10", "render07", "3", None]):
        assert table.add(extra, packed(cb)) == (True, True)
    assert table.dense is not None and "1" not in table.text and "1-10" in table.text
    assert got(table, "1") == {(0, 0)}
    assert got(table, "1-10") == {(2, 0)}
    assert got(table, "render07") == {(3, 0)}
    assert got(table, "4") == set()
    assert table.text[None] == packed(5)


def test_a_frame_with_many_atoms_spills_and_comes_back() -> None:
    table = Table()
    for cb in range(SMALL_BUCKET + 3):
        assert table.add("5", packed(cb)) == (True, cb == 0)
        assert table.add("5", packed(cb)) == (False, False)
    assert got(table, "5") == {(cb, 0) for cb in range(SMALL_BUCKET + 3)}
    assert table.dense is not None and table.dense[table._slot(5)] == SPILL
    for cb in range(SMALL_BUCKET + 1):
        assert table.remove("5", cb) == (1, False)
    assert "5" not in table.text  # two left: back in the array
    assert got(table, "5") == {(SMALL_BUCKET + 1, 0), (SMALL_BUCKET + 2, 0)}
    assert table.remove("5", SMALL_BUCKET + 1) == (1, False)
    assert table.remove("5", SMALL_BUCKET + 2) == (1, True)
    assert got(table, "5") == set() and not table and table.dense is None


def test_one_callback_two_atoms_on_one_frame() -> None:
    table = Table()
    table.add("5", packed(1, 0))
    table.add("5", packed(1, 1))
    table.add("5", packed(2, 0))
    assert got(table, "5") == {(1, 0), (1, 1), (2, 0)}
    assert table.remove("5", 1) == (2, False)
    assert got(table, "5") == {(2, 0)}


def test_huge_frame_numbers_do_not_blow_up_the_array() -> None:
    table = Table()
    huge = 10**17
    for frame in (1, huge, 2, huge - 1, 3):
        table.add(str(frame), packed(frame % 1000))
    assert table.dense is not None and len(table.dense) <= 2 * max(MIN_SPAN, RATIO * 5) * 2
    assert table.outside == 2 and str(huge) in table.text
    for frame in (1, huge, 2, huge - 1, 3):
        assert got(table, str(frame)) == {(frame % 1000, 0)}
    assert got(table, str(huge + 1)) == set()
    assert table.remove(str(huge), huge % 1000) == (1, True)
    assert table.outside == 1 and got(table, str(huge)) == set()


def test_frames_outside_move_in_when_the_array_grows_over_them() -> None:
    table = Table()
    table.add("1000", packed(1))  # the array starts at 1000
    table.add("1", packed(2))  # too far below: kept as text
    assert table.outside == 1 and "1" in table.text
    for frame in range(2, 1000):  # the array grows down and over frame 1
        table.add(str(frame), packed(3))
    assert table.outside == 0 and "1" not in table.text
    assert got(table, "1") == {(2, 0)} and got(table, "1000") == {(1, 0)}
    assert got(table, "500") == {(3, 0)}


def test_an_outlier_first_does_not_keep_the_frames_out() -> None:
    table = Table()
    frames = [10**17, 5 * 10**16, *range(1, 3001)]
    for frame in frames:
        table.add(str(frame), packed(frame % 1000))
    assert table.outside <= 3001 // 8  # most frames moved into the array
    for frame in frames:
        assert got(table, str(frame)) == {(frame % 1000, 0)}
    assert got(table, "3001") == set() and got(table, "0") == set()


def test_sparse_frames_stay_in_the_dict() -> None:
    table = Table()
    for frame in range(0, 100_000, RATIO * 10):
        table.add(str(frame), packed(1))
    assert table.dense is None or len(table.dense) <= 2 * MIN_SPAN * 2
    assert got(table, str(RATIO * 10)) == {(1, 0)} and got(table, "1") == set()


def test_callback_ids_too_big_for_the_array_stay_correct() -> None:
    table = Table()
    big = 1 << 50
    table.add("5", packed(big))
    table.add("6", packed(1))
    table.add("6", packed(big))
    assert got(table, "5") == {(big, 0)}
    assert got(table, "6") == {(1, 0), (big, 0)}
    assert table.remove("6", big) == (1, False)
    assert got(table, "6") == {(1, 0)} and "6" not in table.text


# ---------------------------------------------------------------- against a plain dict


frames = st.one_of(
    st.integers(0, 300).map(str),
    st.integers(0, 10**18).map(str),
    st.sampled_from(["0010", "010", "00", "1-10", "r7", "\u0661", "+1", None]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 4), st.integers(0, 2), frames), max_size=80)
)
def test_table_agrees_with_a_dict(ops: list[tuple[bool, int, int, str | None]]) -> None:
    table = Table()
    model: dict[str | None, set[int]] = {}
    for is_add, cb, no, extra in ops:
        held = model.setdefault(extra, set())
        if is_add:
            p = packed(cb, no)
            assert table.add(extra, p) == (p not in held, not held)
            held.add(p)
        else:
            mine = {p for p in held if p >> ATOM_BITS == cb}
            assert table.remove(extra, cb) == (len(mine), bool(mine) and mine == held)
            held -= mine
        if not held:
            del model[extra]
    assert bool(table) == bool(model)
    for extra, held in model.items():
        if extra is not None:
            assert got(table, extra) == {(p >> ATOM_BITS, p & 0xFFFF) for p in held}
    for extra in ("0010", "1", "299", str(10**18), "1-10"):
        if extra not in model:
            assert got(table, extra) == set()
