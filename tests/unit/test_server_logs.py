"""Work log files read a page at a time: pages never split a character, and add up to the log."""

from __future__ import annotations

from pathlib import Path

from triggerfish.server.logs import LogStore


def test_pages_add_up_to_the_log_and_never_split_a_character(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)
    text = "frame 1 ✓ café 🎬 done\n" * 3
    logs.append(12, "work-1", "stderr", "t1", "w1", text)
    whole = logs.read(12, "work-1", "stderr").text
    assert whole.startswith("=== attempt t1 on w1 at ") and whole.endswith(text)
    for limit in range(4, 12):  # (a character has up to 4 bytes; the route reads 4 MiB)
        parts, offset = [], 0
        while True:
            page = logs.read(12, "work-1", "stderr", offset, limit)
            assert "\ufffd" not in page.text  # no half character, decoded as a replacement
            assert page.end > offset
            parts.append(page.text)
            offset = page.end
            if offset >= page.size:
                break
        assert "".join(parts) == whole


def test_a_log_never_written_is_empty_and_offsets_past_the_end_are_clamped(tmp_path: Path) -> None:
    logs = LogStore(tmp_path)
    assert not logs.exists(3, "work-1")
    page = logs.read(3, "work-1", "stdout")
    assert (page.text, page.end, page.size) == ("", 0, 0)
    logs.append(3, "work-1", "stdout", "t", "w", "hi\n")
    assert logs.exists(3, "work-1")
    size = logs.read(3, "work-1", "stdout").size
    assert logs.read(3, "work-1", "stdout", offset=size + 100).text == ""
    assert logs.read(3, "work-1", "stdout", offset=size + 100).end == size
