"""The log formats: text (the message, then the ``extra=`` fields as key=value) and JSON (one
object a line, with the same fields)."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import warnings
from datetime import datetime, timedelta

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


# ---------------------------------------------------------------- the JSON format


def test_json_line_has_time_level_logger_message_then_the_fields() -> None:
    rec = record("attempt %s lost", why="host down", attempt="ab12", host="w1", job=12,
                 item="5", instance=None, action="attempt.lost", frames=[1, 2])  # fmt: skip
    rec.args = ("ab12",)
    rec.created = 1_777_636_803.114  # 2026-05-01 12:00:03.114 UTC
    line = logfmt.JsonFormatter().format(rec)
    assert "\n" not in line
    data = json.loads(line)
    assert list(data) == [
        "time", "level", "logger", "message",
        "action", "job", "item", "host", "attempt", "frames", "why",
    ]  # fmt: skip
    assert data == {
        "time": "2026-05-01T12:00:03.114000+00:00",
        "level": "INFO",
        "logger": "triggerfish.engine.workers",
        "message": "attempt ab12 lost",
        "action": "attempt.lost", "job": 12, "item": "5", "host": "w1", "attempt": "ab12",
        "frames": [1, 2],
        "why": "host down",
    }  # fmt: skip
    when = datetime.fromisoformat(data["time"])
    assert when.utcoffset() == timedelta(0) and when.timestamp() == rec.created


def test_json_line_carries_the_traceback_as_one_string_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record("failed", action="engine.bug", job=3)
        rec.exc_info = sys.exc_info()
    data = json.loads(logfmt.JsonFormatter().format(rec))
    assert list(data)[-1] == "exc_info" and data["job"] == 3
    assert data["exc_info"].startswith("Traceback") and data["exc_info"].endswith(
        "ValueError: boom"
    )


def test_json_keeps_a_field_named_like_the_head_and_writes_what_json_cannot() -> None:
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    rec = record("hi", level="high", time=5, logger="mine", thing=Thing(), text='é\n"q"')
    data = json.loads(logfmt.JsonFormatter().format(rec))
    assert data["level"] == "INFO" and data["logger"] == "triggerfish.engine.workers"
    assert (data["level_"], data["time_"], data["logger_"]) == ("high", 5, "mine")
    assert data["thing"] == "a thing" and data["text"] == 'é\n"q"'


def test_uvicorns_coloured_copy_of_the_message_is_left_out() -> None:
    rec = record("Started", color_message="\x1b[1mStarted\x1b[0m")
    assert "color_message" not in json.loads(logfmt.JsonFormatter().format(rec))
    assert logfmt.KeyValueFormatter("%(message)s").format(rec) == "Started"


def _fail() -> None:
    raise KeyError("k")


class _Leaky:
    def __del__(self) -> None:
        raise ValueError("in del")


def test_configure_json_and_what_it_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    for module, hook in ((sys, "excepthook"), (threading, "excepthook"), (sys, "unraisablehook")):
        monkeypatch.setattr(module, hook, getattr(module, hook))
    assert logfmt.configured_format() is None
    out = io.StringIO()
    logfmt.configure("info", fmt="json", stream=out)
    assert logfmt.configured_format() == "json"
    try:
        logging.getLogger("triggerfish.test").info("hi", extra={"job": 3, "host": "w 1"})
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("careful", UserWarning, stacklevel=1)  # through the log too
        try:
            raise RuntimeError("a bug")
        except RuntimeError as exc:
            sys.excepthook(RuntimeError, exc, exc.__traceback__)  # what nothing caught
        thread = threading.Thread(target=_fail, name="t1")
        thread.start()
        thread.join()
        _Leaky()  # (its __del__ raises: "Exception ignored in")
    finally:
        logfmt.python_output_to_log(False)
    first, second, third, fourth, fifth = (json.loads(ln) for ln in out.getvalue().splitlines())
    assert (first["message"], first["job"], first["host"]) == ("hi", 3, "w 1")
    assert second["logger"] == "py.warnings" and "careful" in second["message"]
    assert (third["level"], third["message"]) == ("CRITICAL", "uncaught RuntimeError: a bug")
    assert third["exc_info"].endswith("RuntimeError: a bug") and third["action"] == "crash"
    assert fourth["message"] == "uncaught KeyError in thread t1: 'k'"
    assert fourth["thread_name"] == "t1"
    assert fifth["message"].startswith("Exception ignored in: <function _Leaky.__del__")
    assert fifth["exc_info"].endswith("ValueError: in del")
    assert sys.excepthook is sys.__excepthook__  # (set back to Python's)
    assert threading.excepthook is threading.__excepthook__
    logfmt.configure("info", fmt="text", stream=out)
    assert logfmt.configured_format() == "text"
    assert len([h for h in root.handlers if h.get_name() == logfmt.HANDLER]) == 1


def test_a_line_before_logging_is_set_up() -> None:
    data = json.loads(logfmt.line("json", "triggerfish.cli", "listening on port 5", port=5))
    assert (data["level"], data["message"], data["port"]) == ("INFO", "listening on port 5", 5)
    assert logfmt.line("text", "x", "hi", port=5).endswith(" INFO x: hi port=5")
