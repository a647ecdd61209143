"""The trigger grammar (SPEC §3.1-3.2, §3.4): atoms, operators, precedence, errors, warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from triggerfish.errors import ValidationError
from triggerfish.triggers import (
    And,
    Atom,
    Or,
    TimeAtom,
    TriggerSyntaxError,
    check,
    parse,
    unparse,
)


def A(name: str, type_: str, context: str, extra: str | None = None) -> Atom:
    return Atom(name, type_, context, extra)


def syntax_error(text: str) -> TriggerSyntaxError:
    with pytest.raises(TriggerSyntaxError) as info:
        parse(text)
    return info.value


# ---------------------------------------------------------------- the seeds' trigger strings

# seed 000 / 001 (universal callbacks: callbacks.conf) and the reference's quoted examples
SEED_ATOMS = {
    "failed-job-self-*": A("failed", "job", "self", "*"),
    "failed-job-self": A("failed", "job", "self"),
    "done-job-self": A("done", "job", "self"),
    "done-work-self-*": A("done", "work", "self", "*"),
    "submit-job-self": A("submit", "job", "self"),
    "complete-job-self": A("complete", "job", "self"),
    "failed-work-self-*": A("failed", "work", "self", "*"),
    "complete-work-render-5": A("complete", "work", "render", "5"),
    "running-job-19294": A("running", "job", "19294"),
    "complete-subjob-self-2": A("complete", "subjob", "self", "2"),
    "done-job-hello": A("done", "job", "hello"),
    "done-subjob-self-5": A("done", "subjob", "self", "5"),
    "done-job-19234": A("done", "job", "19234"),
    "running-job-world": A("running", "job", "world"),
    "timeout-subjob-self-*": A("timeout", "subjob", "self", "*"),
    "timeout-work-self-*": A("timeout", "work", "self", "*"),
    "complete-job-ribgenLabel": A("complete", "job", "ribgenLabel"),
    "complete-work-ribgenLabel-17": A("complete", "work", "ribgenLabel", "17"),
}


@pytest.mark.parametrize("text", sorted(SEED_ATOMS))
def test_every_seed_atom_parses(text: str) -> None:
    parsed = check(text)
    assert parsed.expr == SEED_ATOMS[text]
    assert parsed.warnings == ()


def test_seed_expressions_of_the_reference() -> None:
    assert parse("complete-job-self && complete-job-parent") == And(
        (A("complete", "job", "self"), A("complete", "job", "parent"))
    )
    assert parse("complete-job-self AND complete-job-parent") == parse(
        "complete-job-self && complete-job-parent"
    )
    assert parse("running-job-sibling && done-job-self") == And(
        (A("running", "job", "sibling"), A("done", "job", "self"))
    )


def test_seed_002_doubled_operators_are_rejected_with_a_hint() -> None:
    # 002: triggerStr = 'complete-work-ribgen-%s' + ' AND&& ' + 'complete-work-render-%s'
    err = syntax_error("complete-work-ribgen-5 AND&& complete-work-render-5")
    assert err.column == 27
    assert "doubled operator 'AND&&'" in err.message
    assert "write 'AND' or '&&'" in err.message
    err = syntax_error(
        "(complete-work-ribgen-5 AND&& complete-work-render-5) OR|| complete-work-composite-5"
    )
    assert err.column == 28


def test_seed_002_expressions_once_fixed() -> None:
    # the intended meaning of the seed: AND, and (A AND B) OR C
    frame = A("complete", "work", "ribgen", "5"), A("complete", "work", "render", "5")
    both = And(frame)
    for text in (
        "complete-work-ribgen-5 AND complete-work-render-5",
        "complete-work-ribgen-5 && complete-work-render-5",
    ):
        assert parse(text) == both
    expected = Or((both, A("complete", "work", "composite", "5")))
    for text in (
        "(complete-work-ribgen-5 AND complete-work-render-5) OR complete-work-composite-5",
        "( complete-work-ribgen-5 && complete-work-render-5 ) || complete-work-composite-5",
    ):
        assert parse(text) == expected


def test_seed_delayed_start_and_global_time() -> None:
    assert parse("dummy-time-self-846000") == TimeAtom("dummy", "time", 846000)
    assert parse("globaltime-10000") == TimeAtom("dummy", "globaltime", 10000)


# ---------------------------------------------------------------- operators and precedence


def test_and_binds_tighter_than_or() -> None:
    a, b, c = (A("complete", "job", x) for x in ("a", "b", "c"))
    assert parse("complete-job-a || complete-job-b && complete-job-c") == Or((a, And((b, c))))
    assert parse("complete-job-a && complete-job-b || complete-job-c") == Or((And((a, b)), c))
    assert parse("complete-job-a && (complete-job-b || complete-job-c)") == And((a, Or((b, c))))


def test_chains_and_redundant_parentheses_flatten() -> None:
    a, b, c = (A("complete", "job", x) for x in ("a", "b", "c"))
    assert parse("complete-job-a && complete-job-b && complete-job-c") == And((a, b, c))
    assert parse("(complete-job-a && (complete-job-b)) && ((complete-job-c))") == And((a, b, c))
    assert parse("((complete-job-a))") == a


@pytest.mark.parametrize("word", ["and", "AND", "And", "aNd"])
def test_and_word_in_any_case(word: str) -> None:
    assert parse(f"done-job-a {word} done-job-b") == parse("done-job-a && done-job-b")


@pytest.mark.parametrize("word", ["or", "OR", "Or", "oR"])
def test_or_word_in_any_case(word: str) -> None:
    assert parse(f"done-job-a {word} done-job-b") == parse("done-job-a || done-job-b")


def test_operators_need_no_spaces_and_any_whitespace_works() -> None:
    a, b = A("done", "job", "a"), A("done", "job", "b")
    assert parse("done-job-a&&done-job-b") == And((a, b))
    assert parse("(done-job-a)||(done-job-b)") == Or((a, b))
    assert parse("  done-job-a\n\tAND\n done-job-b  ") == And((a, b))


def test_words_and_or_inside_atoms_are_not_operators() -> None:
    assert parse("and-job-self") == A("and", "job", "self")
    assert parse("order-job-or") == A("order", "job", "or")
    assert parse("done-job-android AND done-job-oregon") == And(
        (A("done", "job", "android"), A("done", "job", "oregon"))
    )


# ---------------------------------------------------------------- atoms


def test_the_extra_is_everything_after_the_third_dash() -> None:
    assert parse("complete-work-render-1-10") == A("complete", "work", "render", "1-10")
    assert parse("complete-work-self-shot-010-v2.exr") == A(
        "complete", "work", "self", "shot-010-v2.exr"
    )


def test_host_atoms_and_host_wildcards() -> None:
    assert parse("down-host-*-render07") == A("down", "host", "*", "render07")
    assert parse("up-host-*-*") == A("up", "host", "*", "*")
    assert parse("assigned-host-self-*") == A("assigned", "host", "self", "*")
    assert parse("down-host-*-render07.farm.local") == A("down", "host", "*", "render07.farm.local")


def test_star_context_only_for_hosts() -> None:
    err = syntax_error("complete-job-*")
    assert err.column == 14
    assert "'*' is for hosts" in err.message


def test_contexts() -> None:
    assert parse("complete-job-parent").context == "parent"  # type: ignore[union-attr]
    assert parse("complete-job-42").context == "42"  # type: ignore[union-attr]
    assert parse("complete-job-shot_010.comp").context == "shot_010.comp"  # type: ignore[union-attr]
    assert syntax_error("complete-job-0").column == 14
    assert syntax_error("complete-job-ren$der").column == 14
    assert syntax_error("complete-job-").column == 14


def test_pattern_variables() -> None:
    assert parse("complete-work-ribgen-$f && complete-work-render-$f") == And(
        (A("complete", "work", "ribgen", "$f"), A("complete", "work", "render", "$f"))
    )
    assert parse("done-subjob-self-$sub").variable == "sub"  # type: ignore[union-attr]
    assert parse("down-host-*-$h").variable == "h"  # type: ignore[union-attr]


def test_one_pattern_variable_per_expression() -> None:
    err = syntax_error("complete-work-a-$f && complete-work-b-$g")
    assert err.column == 39
    assert "one pattern variable per expression" in err.message


def test_bad_extras() -> None:
    assert "no extra after a job atom" in syntax_error("complete-job-self-5").message
    assert syntax_error("complete-job-self-$f").column == 19
    assert "subjob id" in syntax_error("complete-subjob-self-x").message
    assert "'*' alone matches any" in syntax_error("complete-work-self-1*").message
    assert syntax_error("complete-work-self-$1").column == 20
    assert syntax_error("complete-work-self-").column == 20


def test_names_and_types() -> None:
    err = syntax_error("complete-jbo-self")
    assert err.column == 10
    assert "did you mean 'job'" in err.message
    assert "expected an event type (job, subjob, work, host" in err.message
    err = syntax_error("Complete-job-self")
    assert err.column == 1
    assert "lowercase" in err.message
    err = syntax_error("complete-job")
    assert "name-type-context" in err.message


def test_unknown_names_are_warnings_not_errors() -> None:
    parsed = check("finished-job-self || complete-job-self || up-job-self")
    assert parsed.expr == Or(
        (
            A("finished", "job", "self"),
            A("complete", "job", "self"),
            A("up", "job", "self"),
        )
    )
    assert len(parsed.warnings) == 2
    assert parsed.warnings[0].startswith("column 1: 'finished' is not an event")
    assert "user-defined signal" in parsed.warnings[0]
    assert parsed.warnings[1] == "column 43: no 'up' event is emitted for type 'job'"
    assert "did you mean 'retry'" in check("retrying-work-self-*").warnings[0]


def test_time_atoms() -> None:
    assert parse("dummy-repeat-self-1000-60") == TimeAtom("dummy", "repeat", 1000, 60)
    assert parse("globalrepeat-1000-3600") == TimeAtom("dummy", "globalrepeat", 1000, 3600)
    assert parse("dummy-globaltime-5") == TimeAtom("dummy", "globaltime", 5)
    assert parse("wake-globaltime-5") == TimeAtom("wake", "globaltime", 5)
    paris = timezone(timedelta(hours=2))
    assert parse("dummy-time-self-2026-05-01T10:00:00+02:00") == TimeAtom(
        "dummy", "time", datetime(2026, 5, 1, 10, tzinfo=paris)
    )
    at = parse("dummy-repeat-self-2026-05-01T10:00:00-05:00-3600")
    assert isinstance(at, TimeAtom)
    assert at.every == 3600
    assert at.at == datetime(2026, 5, 1, 15, tzinfo=UTC)
    assert parse("globaltime-2026-05-01T08:00:00Z") == TimeAtom(
        "dummy", "globaltime", datetime(2026, 5, 1, 8, tzinfo=UTC)
    )


def test_time_atom_values() -> None:
    atom = parse("dummy-time-self-0")
    assert isinstance(atom, TimeAtom)
    assert atom.unix_time() == 946702800.0  # 2000-01-01 05:00 UTC
    assert not atom.is_global and not atom.repeats
    later = parse("globalrepeat-2000-01-01T05:00:10Z-60")
    assert isinstance(later, TimeAtom)
    assert later.unix_time() == 946702810.0 and later.is_global and later.repeats


def test_bad_time_atoms() -> None:
    assert "add a zone" in syntax_error("dummy-time-self-2026-05-01T10:00:00").message
    assert syntax_error("dummy-time-parent-5").column == 12
    assert "'T-N'" in syntax_error("dummy-repeat-self-1000").message
    assert syntax_error("dummy-repeat-self-1000-0").column == 24
    assert syntax_error("globaltime").column == 11
    assert syntax_error("dummy-time-self").column == 16
    assert syntax_error("dummy-time-self-tomorrow").column == 17
    assert "at most 12 digits" in syntax_error("globaltime-1234567890123").message


# ---------------------------------------------------------------- errors name the column


def test_error_names_column_and_what_was_expected() -> None:
    err = syntax_error("(complete-job-a && complete-job-b complete-job-c")
    assert err.message == ("column 35: expected '&&', '||' or ')', got 'complete-job-c'")
    assert err.column == 35 and err.got == "complete-job-c"
    assert err.expected == ("'&&'", "'||'", "')'")
    err = syntax_error("complete-job-a complete-job-b")
    assert (
        err.message == "column 16: expected '&&', '||' or end of expression, got 'complete-job-b'"
    )


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("", 1, "expected a trigger atom or '('"),
        ("complete-job-a &&", 18, "got end of expression"),
        ("complete-job-a && && complete-job-b", 19, "doubled operator '&& &&'"),
        ("(complete-job-a", 16, "expected '&&', '||' or ')', got end of expression"),
        ("complete-job-a)", 15, "got ')'"),
        ("complete-job-a & complete-job-b", 16, "got '&' (write '&&')"),
        ("complete-job-a | complete-job-b", 16, "got '|' (write '||')"),
        ("AND complete-job-a", 1, "expected a trigger atom or '(', got 'AND'"),
        ("()", 2, "expected a trigger atom or '(', got ')'"),
    ],
)
def test_error_columns(text: str, column: int, expected: str) -> None:
    err = syntax_error(text)
    assert err.column == column
    assert expected in err.message
    assert err.message.startswith(f"column {column}: ")


def test_leftmost_error_wins() -> None:
    # the bad type comes before the missing parenthesis
    assert syntax_error("(complete-jbo-a").column == 11


def test_errors_on_later_lines_say_the_line() -> None:
    err = syntax_error("complete-job-a &&\n  (complete-job-b ||")
    assert err.message.startswith("line 2, column 21: ")
    assert (err.line, err.column, err.offset) == (2, 21, 38)


def test_deep_nesting_is_refused_not_crashing() -> None:
    text = "(" * 5000 + "done-job-a" + ")" * 5000
    err = syntax_error(text)
    assert "nested deeper" in err.message
    assert parse("(" * 20 + "done-job-a" + ")" * 20) == A("done", "job", "a")


def test_syntax_errors_are_validation_errors() -> None:
    err = syntax_error("complete-job-a &&")
    assert isinstance(err, ValidationError)
    assert err.http_status == 422
    body = err.to_dict()
    assert body["code"] == "trigger_syntax"
    assert body["field"] == "triggers"
    assert body["details"]["column"] == 18


# ---------------------------------------------------------------- canonical text


def test_unparse_is_canonical() -> None:
    text = "(done-job-a OR done-job-b) AND done-work-self-1-10 or globaltime-5"
    assert unparse(parse(text)) == (
        "(done-job-a || done-job-b) && done-work-self-1-10 || globaltime-5"
    )
    assert str(parse("wake-repeat-self-5-60")) == "wake-repeat-self-5-60"
    assert unparse(parse("dummy-globalrepeat-5-60")) == "globalrepeat-5-60"


def test_trees_are_canonical() -> None:
    a, b = A("done", "job", "a"), A("done", "job", "b")
    with pytest.raises(ValueError):
        And((a,))
    with pytest.raises(ValueError):
        Or((a, Or((a, b))))
