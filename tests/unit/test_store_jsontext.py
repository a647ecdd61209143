"""The store's JSON text holds the same data ``json.dumps`` would have written."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from triggerfish.store.jsontext import dumps

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers() | st.text() | finite
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text() | st.integers(), kids, max_size=4)
    ),
    max_leaves=20,
)


@given(values)
def test_same_data_as_json_dumps(value: Any) -> None:
    assert json.loads(dumps(value)) == json.loads(json.dumps(value))


def test_what_orjson_refuses_still_gets_written() -> None:
    assert json.loads(dumps({"n": 2**70})) == {"n": 2**70}  # beyond 64 bits
    assert json.loads(dumps({1: "x"})) == {"1": "x"}
    assert dumps((1, 2)) == "[1,2]"


def test_nan_and_infinity_which_json_has_not_are_null() -> None:
    # json.dumps writes NaN / Infinity, which PostgreSQL and the API's answers refuse
    assert dumps([float("nan"), float("inf")]) == "[null,null]"
