"""triggerfish.futures' wire format: calls, results and exceptions, JSON where they can be,
pickles only where allowed; every package goes through real JSON text as on the wire."""

from __future__ import annotations

import json
import math
import os.path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triggerfish.errors import TriggerfishError
from triggerfish.futures.encoding import (
    decode_calls,
    decode_results,
    encode_calls,
    encode_fn,
    exact_json,
    load_fn,
    reference,
)
from triggerfish.futures.errors import PickleRefused, RemoteError
from triggerfish.futures.jobtype import run_item
from triggerfish.model.pyfutures import pickle_field

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


def wire(package: dict[str, Any]) -> dict[str, Any]:
    """The package as the supervisor stores it and hands it back: JSON text."""
    out: dict[str, Any] = json.loads(json.dumps(package, allow_nan=False))
    return out


def inverse(x: float) -> float:
    return 1 / x


def boom(message: str) -> None:
    raise ValueError(message)


class Picky(Exception):
    def __init__(self, *, code: int) -> None:
        super().__init__(f"code {code}")
        self.code = code


def picky(code: int) -> None:
    raise Picky(code=code)


class Odd(Exception):
    pass


def odd() -> None:
    raise Odd({1, 2})


def as_set(value: Any) -> Any:
    return set(value) if isinstance(value, list) else value


def give(value: Any) -> Any:
    return value


class Holder:
    def method(self) -> int:
        return 1


def outcome(fn: Any, calls: list[Any], allow_pickle: bool = False) -> tuple[list[Any], Any]:
    """Calls sent, run as the job type runs them, and the outcome read back: all through JSON."""
    job = wire(encode_fn(fn, allow_pickle))
    item = wire(encode_calls(calls, allow_pickle))
    return decode_results(wire(run_item(load_fn(job), item, allow_pickle)))


# ------------------------------------------------------------------ callables


def test_importable_callables_go_by_name() -> None:
    assert reference(pow) == "builtins:pow"
    assert reference(math.sqrt) == "math:sqrt"
    assert reference(os.path.join) == f"{os.path.join.__module__}:join"
    assert reference(inverse) == f"{__name__}:inverse"
    assert reference(Holder.method) == f"{__name__}:Holder.method"
    assert load_fn(wire(encode_fn(inverse, False))) is inverse


def test_lambdas_closures_and_bound_methods_need_pickle() -> None:
    def local(x: int) -> int:
        return x + 1

    for fn in (lambda x: x, local, Holder().method):
        assert reference(fn) is None
        with pytest.raises(PickleRefused, match="--allow-pickle") as refused:
            encode_fn(fn, allow_pickle=False)
        assert isinstance(refused.value, TriggerfishError)
    assert "fn_pickle" in encode_fn(Holder().method, allow_pickle=True)
    assert load_fn(wire(encode_fn(Holder().method, True)))() == 1


# ------------------------------------------------------------------ calls and results


@given(st.lists(JSON_VALUES, max_size=4), st.dictionaries(st.text(), JSON_VALUES, max_size=3))
def test_json_arguments_come_back_equal_and_of_their_types(
    args: list[Any], kwargs: dict[str, Any]
) -> None:
    assert all(exact_json(a) for a in args)
    package = wire(encode_calls([(args, kwargs)], allow_pickle=False))
    assert "calls" in package
    [(args_back, kwargs_back)] = decode_calls(package)
    assert args_back == args and kwargs_back == kwargs
    assert repr(args_back) == repr(args)  # (the same types: 1 is not 1.0 nor True)


@given(JSON_VALUES)
def test_a_json_result_is_sent_as_json(value: Any) -> None:
    assert outcome(give, [([value], {})]) == ([value], None)


@pytest.mark.parametrize("value", [(1, 2), {1, 2}, b"x", math.nan, {1: "a"}, Holder])
def test_arguments_that_are_not_exact_json_need_pickle(value: Any) -> None:
    with pytest.raises(PickleRefused, match="--allow-pickle"):
        encode_calls([((value,), {})], allow_pickle=False)
    package = wire(encode_calls([((value,), {})], allow_pickle=True))
    assert "calls_pickle" in package
    [(args, kwargs)] = decode_calls(package)
    assert kwargs == {} and type(args[0]) is type(value)
    assert args[0] == value or (isinstance(value, float) and math.isnan(args[0]))


def test_results_pickled_where_allowed_json_nearest_otherwise() -> None:
    assert outcome(give, [([[1, 2]], {})], allow_pickle=True) == ([[1, 2]], None)
    # a tuple: back as a tuple with pickle, as JSON's list without
    pickled = wire(run_item(give, wire(encode_calls([(((1, 2),), {})], True)), True))
    assert "results_pickle" in pickled
    assert decode_results(pickled) == ([(1, 2)], None)
    assert decode_results(wire(run_item(give, {"calls": [[[[1, 2]], {}]]}, False))) == (
        [[1, 2]], None,
    )  # fmt: skip


def test_a_result_that_cannot_be_sent_fails_that_call_saying_why() -> None:
    package = wire(run_item(give, {"calls": [[["a"], {}], [[1], {}]]}, False))
    assert decode_results(package) == (["a", 1], None)
    calls = wire(encode_calls([(["ok"], {}), ([[1, 2]], {}), (["never"], {})], False))
    results, error = decode_results(wire(run_item(as_set, calls, False)))
    assert results == ["ok"]
    assert isinstance(error, TypeError) and "--allow-pickle" in str(error)


# ------------------------------------------------------------------ exceptions


def test_an_exception_comes_back_as_itself_with_its_traceback_as_a_note() -> None:
    results, error = outcome(boom, [(["x"], {})])
    assert results == []
    assert type(error) is ValueError and error.args == ("x",)
    notes = "\n".join(getattr(error, "__notes__", []))
    assert "Raised on the farm" in notes and "in boom" in notes and "ValueError: x" in notes


def test_a_chunk_stops_at_its_first_exception() -> None:
    results, error = outcome(inverse, [([1], {}), ([0], {}), ([2], {})])
    assert results == [1.0]
    assert type(error) is ZeroDivisionError


def test_an_exception_that_cannot_be_rebuilt_is_a_remote_error_unless_pickled() -> None:
    _, plain = outcome(picky, [([7], {})])
    assert isinstance(plain, RemoteError) and isinstance(plain, TriggerfishError)
    assert plain.type == f"{__name__}:Picky" and "code 7" in str(plain)
    assert "raise Picky(code=code)" in plain.traceback
    _, plain = outcome(odd, [([], {})])  # (its args are not JSON)
    assert isinstance(plain, RemoteError) and plain.type == f"{__name__}:Odd"
    _, pickled = outcome(odd, [([], {})], allow_pickle=True)
    assert type(pickled) is Odd and pickled.args == ({1, 2},)


def test_a_callable_that_does_not_load_fails_every_item_with_why() -> None:
    from triggerfish.futures.jobtype import _loaded

    fn = _loaded({"fn": "no_such_module_here:fn"})
    results, error = decode_results(wire(run_item(fn, {"calls": [[[1], {}]]}, False)))
    assert results == [] and type(error) is ModuleNotFoundError


# ------------------------------------------------------------------ the supervisor's check


def test_the_supervisor_finds_where_a_job_carries_pickle() -> None:
    assert pickle_field({"fn": "builtins:pow"}, [{"name": "0", "package": {"calls": []}}]) is None
    assert pickle_field({"fn_pickle": "x"}, []) == "package.fn_pickle"
    items = [{"name": "0", "package": {"calls": []}}, {"name": "1",
             "package": {"calls_pickle": "x"}}]  # fmt: skip
    assert pickle_field({"fn": "builtins:pow"}, items) == "agenda[1].package.calls_pickle"
    assert pickle_field({}, ["0", {"name": "1"}]) is None


def test_ended_items_are_read_a_page_per_run_of_neighbours() -> None:
    from triggerfish.futures.reader import GAP, _runs

    assert _runs([0, 1, 2, 5]) == [(0, 6)]
    assert _runs([3]) == [(3, 4)]
    assert _runs([0, GAP + 1, GAP + 2]) == [(0, 1), (GAP + 1, GAP + 3)]
