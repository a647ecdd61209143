"""The text log format: the message, then the ``extra=`` fields as key=value."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from triggerfish import logfmt


def record(msg: str = "attempt lost", **extra: object) -> logging.LogRecord:
    rec = logging.makeLogRecord({"name": "triggerfish.engine.workers", "levelno": 20,
                                 "levelname": "INFO", "msg": msg, "args": ()})  # fmt: skip
    rec.__dict__.update(extra)
    return rec


def test_work_fields_first_then_the_rest_sorted_and_empty_ones_left_out() -> None:
    rec = record(why="host down", attempt="ab12", host="w1", job=12, item="5", instance=None,
                 action="attempt.lost", alpha=[1, 2])  # fmt: skip
    line = logfmt.KeyValueFormatter("%(levelname)s %(name)s: %(message)s").format(rec)
    assert line == (
        "INFO triggerfish.engine.workers: attempt lost "
        'action=attempt.lost job=12 item=5 host=w1 attempt=ab12 alpha=[1,2] why="host down"'
    )


def test_values_that_would_be_ambiguous_are_quoted() -> None:
    values = {"a": "x=y", "b": "", "c": 'say "hi"', "d": "plain", "e": True, "f": 1.5}
    assert logfmt.key_values(values) == 'a="x=y" b="" c="say \\"hi\\"" d=plain e=True f=1.5'


def test_a_line_without_extra_is_the_plain_line() -> None:
    line = logfmt.KeyValueFormatter("%(levelname)s %(message)s").format(record("hello"))
    assert line == "INFO hello"


def test_the_fields_stay_on_the_first_line_before_a_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record("failed", action="engine.bug")
        rec.exc_info = sys.exc_info()
    lines = logfmt.KeyValueFormatter("%(message)s").format(rec).splitlines()
    assert lines[0] == "failed action=engine.bug"
    assert lines[1].startswith("Traceback") and lines[-1] == "ValueError: boom"


def test_configure_sends_formatted_lines_to_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    out = io.StringIO()
    logfmt.configure("info", stream=out)
    logfmt.configure("INFO", stream=out)  # again: replaces, does not add a second handler
    logging.getLogger("triggerfish.test").info("hi", extra={"job": 3, "host": "w 1"})
    logging.getLogger("triggerfish.test").debug("not shown")
    assert out.getvalue().endswith(' INFO triggerfish.test: hi job=3 host="w 1"\n')
    assert out.getvalue().count("\n") == 1
