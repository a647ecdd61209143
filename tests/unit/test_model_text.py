"""Text a store or JSON cannot hold: found with its JSON path, refused, or replaced."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triggerfish.api.schemas import SCRUBBED, LogChunk, Report
from triggerfish.errors import ValidationError
from triggerfish.model.text import bad_text, check_json, find_bad, scrub, scrub_text, suspect
from triggerfish.server.badinput import check_body

BAD_CHARS = st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff"])
# text that UTF-8 and PostgreSQL both hold (no NUL, no surrogate)
GOOD_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@st.composite
def bad_texts(draw: st.DrawFn) -> str:
    """Good text with at least one NUL or lone surrogate somewhere in it."""
    head, tail = draw(GOOD_TEXT), draw(GOOD_TEXT)
    return head + draw(BAD_CHARS) + tail


FLOATS = st.floats(allow_nan=False, allow_infinity=False)
JSON_LEAVES = st.none() | st.booleans() | st.integers() | FLOATS
GOOD_JSON = st.recursive(
    JSON_LEAVES | GOOD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(GOOD_TEXT, inner, max_size=4),
    max_leaves=12,
)


@given(GOOD_TEXT)
def test_good_text_passes_and_is_kept(text: str) -> None:
    assert bad_text(text) is None
    assert scrub_text(text) == text


@given(bad_texts())
def test_bad_text_is_found_and_replaced_by_storable_text(text: str) -> None:
    assert bad_text(text) is not None
    out = scrub_text(text)
    assert bad_text(out) is None
    out.encode("utf-8")  # (raises for a lone surrogate)
    assert "\ufffd" in out and len(out) == len(text)


@given(GOOD_JSON, bad_texts(), st.integers(0, 3))
def test_the_json_path_of_bad_text_is_named(value: Any, bad: str, depth: int) -> None:
    doc: Any = bad
    path = ""
    for i in range(depth):  # bad text, nested in lists and dicts, next to good values
        doc = {"k": doc, "other": value} if i % 2 == 0 else [value, doc]
        path = f".k{path}" if i % 2 == 0 else f"[1]{path}"
    want = "body" if not path else path.lstrip(".")
    found = find_bad(doc)
    assert found is not None and found[0] == want
    with pytest.raises(ValidationError) as exc:
        check_json(doc, "")
    assert exc.value.field == want
    assert find_bad(value) is None  # good JSON passes


@given(GOOD_JSON)
def test_a_body_without_suspect_escapes_needs_no_walk(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()  # (what suspect() lets pass)
    assert not suspect(raw)
    check_body("/api/v1/jobs", raw)  # nothing bad in it


@given(bad_texts(), GOOD_JSON)
def test_any_json_body_with_bad_text_is_refused(bad: str, other: Any) -> None:
    raw = json.dumps({"a": other, "b": [bad]}).encode()  # (escaped: \\u0000, \\ud800)
    assert suspect(raw)
    with pytest.raises(ValidationError) as exc:
        check_body("/api/v1/tasks", raw)
    assert exc.value.field == "b[0]"
    with pytest.raises(ValidationError) as exc:
        check_body("/api/v1/jobs", json.dumps([{}, {"name": bad}]).encode())
    assert exc.value.field == "jobs[1].name"


@given(bad_texts(), bad_texts())
def test_a_report_is_never_refused_for_its_text(value: str, error: str) -> None:
    r = Report(token="t", status="failed", result={"value": value, "k": [value]}, error=error)
    assert r.error == scrub_text(error)
    assert r.result[SCRUBBED] == ["result.value", "result.k[0]", "error"]
    wire = r.model_dump_json()  # what the worker sends: it can be sent now
    again = Report.model_validate_json(wire)  # and the supervisor reads it as it is
    assert again.result == r.result and again.error == r.error
    assert bad_text(LogChunk(session="s", token="t", stream="stdout", data=value).data) is None


def test_keys_are_scrubbed_and_named_as_they_can_be_shown() -> None:
    changed: list[str] = []
    assert scrub({"a\x00": {"b": "\ud800"}}, "result", changed) == {"a\ufffd": {"b": "\ufffd"}}
    assert changed == ["result.a\ufffd", "result.a\ufffd.b"]
    assert find_bad({"x": {"k\ud800": 1}}) == ("x.k\ufffd", "a lone surrogate (\\ud800) in a key")
    assert scrub_text("\ud83d\ude00 ok") == "\U0001f600 ok"  # a pair is the character it spells
