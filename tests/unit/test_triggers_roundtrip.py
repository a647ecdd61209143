"""Property tests of the grammar: unparse → parse gives the same tree; random text never
raises anything but TriggerSyntaxError."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triggerfish.triggers import (
    Atom,
    Expr,
    TimeAtom,
    TriggerSyntaxError,
    all_of,
    any_of,
    check,
    parse,
    unparse,
)
from triggerfish.triggers.parse import Parsed, check_with_grammar
from triggerfish.triggers.vocabulary import EVENT_NAMES, GLOBAL_TIME_TYPES

LOWER = "abcdefghijklmnopqrstuvwxyz"
LABEL_CHARS = LOWER + LOWER.upper() + "0123456789_."
# anything an extra may hold: no whitespace, ( ) & | * $; dashes and unicode welcome
EXTRA_CHARS = st.characters(
    blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"),
    blacklist_characters="()&|*$ \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85",
)

names = st.one_of(
    st.sampled_from(sorted(EVENT_NAMES)),
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
).filter(lambda n: n not in GLOBAL_TIME_TYPES)
labels = st.text(LABEL_CHARS, min_size=1, max_size=12).filter(
    lambda s: not s.isdigit() and s not in ("self", "parent")
)
job_ids = st.integers(1, 10**9).map(str)
variables = st.shared(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True), key="var")


@st.composite
def object_atoms(draw: st.DrawFn) -> Atom:
    type_ = draw(st.sampled_from(["job", "subjob", "work", "host"]))
    contexts = [st.sampled_from(["self", "parent"]), labels, job_ids]
    if type_ == "host":
        contexts.append(st.just("*"))
    context = draw(st.one_of(contexts))
    extras: list[st.SearchStrategy[str | None]] = [st.none(), st.just("*")]
    if type_ == "subjob":
        extras += [st.integers(0, 10**6).map(str), variables.map(lambda v: "$" + v)]
    elif type_ in ("work", "host"):
        extras += [st.text(EXTRA_CHARS, min_size=1, max_size=12), variables.map(lambda v: "$" + v)]
    return Atom(draw(names), type_, context, draw(st.one_of(extras)))


moments = st.builds(
    lambda dt, minutes: dt.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30)),
    st.integers(-1439, 1439),
)


@st.composite
def time_atoms(draw: st.DrawFn) -> TimeAtom:
    type_ = draw(st.sampled_from(["time", "repeat", "globaltime", "globalrepeat"]))
    at = draw(st.one_of(st.integers(0, 10**12 - 1), moments))
    every = draw(st.integers(1, 10**9)) if "repeat" in type_ else None
    return TimeAtom(draw(names), type_, at, every)


def trees() -> st.SearchStrategy[Expr]:
    leaves: st.SearchStrategy[Expr] = st.one_of(object_atoms(), object_atoms(), time_atoms())
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.lists(kids, min_size=2, max_size=4).map(lambda xs: all_of(*xs)),
            st.lists(kids, min_size=2, max_size=4).map(lambda xs: any_of(*xs)),
        ),
        max_leaves=12,
    )


@pytest.mark.slow  # 10 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
@settings(max_examples=300, deadline=None)
@given(trees())
def test_unparse_then_parse_gives_the_same_tree(tree: Expr) -> None:
    text = unparse(tree)
    assert parse(text) == tree
    assert unparse(parse(text)) == text


@settings(max_examples=100, deadline=None)
@given(
    trees(),
    st.sampled_from([" AND ", " and ", "&&", " aNd "]),
    st.sampled_from([" OR ", " or ", "||", " Or "]),
)
def test_spelling_of_operators_does_not_change_the_tree(tree: Expr, and_: str, or_: str) -> None:
    text = unparse(tree).replace(" && ", and_).replace(" || ", or_)
    assert parse(text) == tree


def _parse_or_syntax_error(text: str) -> None:
    try:
        check(text)
    except TriggerSyntaxError as exc:
        assert exc.message
        assert 1 <= exc.column <= len(text) + 1
        assert 0 <= exc.offset <= len(text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_random_text_never_crashes(text: str) -> None:
    _parse_or_syntax_error(text)


GRAMMARISH = (
    "&|() -*$\n\t:+.TZ_" + "aAnNdDoOrR" + "0123456789" + "jobsubwrkhtselfparn" + "timerpatglb"
)


@settings(max_examples=1000, deadline=None)
@given(st.text(GRAMMARISH, max_size=60))
def test_grammar_like_text_never_crashes(text: str) -> None:
    _parse_or_syntax_error(text)


@settings(max_examples=200, deadline=None)
@given(trees(), st.data())
def test_mutated_valid_text_never_crashes(tree: Expr, data: st.DataObject) -> None:
    text = unparse(tree)
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.text(GRAMMARISH, max_size=3))
    _parse_or_syntax_error(text[:at] + insert + text[at + cut :])


def _outcome(fn: Callable[[str], Parsed], text: str) -> object:
    try:
        return fn(text)
    except TriggerSyntaxError as exc:
        return ("error", exc.message, exc.offset)


def _agree(text: str) -> None:
    """The flat fast path (no lark) and the grammar give the same tree, warnings and error."""
    assert _outcome(check, text) == _outcome(check_with_grammar, text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(object_atoms(), time_atoms()), min_size=1, max_size=6),
    st.data(),
)
def test_flat_fast_path_agrees_with_the_grammar(atoms: list[Expr], data: st.DataObject) -> None:
    ops = [" && ", " || ", "&&", "||", " AND ", " or ", "  &&\t"]
    text = unparse(atoms[0])
    for atom in atoms[1:]:
        text += data.draw(st.sampled_from(ops)) + unparse(atom)
    _agree(text)
    _agree("  " + text + " \n")


@settings(max_examples=500, deadline=None)
@given(st.text(GRAMMARISH, max_size=60))
def test_flat_fast_path_agrees_on_grammar_like_text(text: str) -> None:
    _agree(text)
