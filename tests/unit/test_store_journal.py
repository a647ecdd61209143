"""The intake journal on real files: lines come back in order, committed segments go, a line
cut short by a crash is passed over."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from triggerfish.store import journal as jr
from triggerfish.store.journal import Entry, Journal


def entry(seq: int, job_id: int | None = None) -> Entry:
    return Entry(seq, job_id or 100 + seq, "alice", {"prototype": "task", "n": seq})


def test_lines_come_back_in_order_after_a_restart(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    for seq in (1, 2, 3):
        j.append(entry(seq))
    j.close()
    again = Journal(tmp_path / "j")
    assert [e.seq for e in again.entries_after(0)] == [1, 2, 3]
    assert again.entries_after(1)[0] == entry(2)
    assert (again.last_seq, again.max_job_id) == (3, 103)
    again.append(entry(4))  # it goes on where it was
    assert [e.seq for e in again.entries_after(2)] == [3, 4]


def test_a_line_must_follow_the_last(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append(entry(1))
    with pytest.raises(ValueError, match="seq 3 after 1"):
        j.append(entry(3))
    with pytest.raises(ValueError, match="seq 4 after 2"):
        j.append_many([entry(2), entry(4)])
    assert [e.seq for e in j.entries_after(0)] == [1]  # nothing of a refused call is written


def test_several_lines_in_one_write(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append_many([entry(1), entry(2, 500), entry(3)])
    j.close()
    again = Journal(tmp_path / "j")
    assert [(e.seq, e.job_id) for e in again.entries_after(0)] == [(1, 101), (2, 500), (3, 103)]
    assert (again.last_seq, again.max_job_id) == (3, 500)


def test_committed_segments_are_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jr, "SEGMENT_BYTES", 200)  # a few lines to a segment
    monkeypatch.setattr(jr, "KEEP_BYTES", 1)
    j = Journal(tmp_path / "j")
    for seq in range(1, 21):
        j.append(entry(seq))
    files = sorted((tmp_path / "j").glob("*.log"))
    assert len(files) > 3
    j.forget_through(12)
    left = j.entries_after(0)
    assert left and left[0].seq <= 13 and left[-1].seq == 20  # nothing after 12 is gone
    assert len(sorted((tmp_path / "j").glob("*.log"))) < len(files)
    j.forget_through(20)  # all committed: only an empty segment is left, to write to
    assert j.entries_after(0) == []
    assert [p.stat().st_size for p in (tmp_path / "j").glob("*.log")] == [0]
    j.append(entry(21))
    j.close()
    assert [e.seq for e in Journal(tmp_path / "j").entries_after(0)] == [21]


def test_a_line_cut_short_is_passed_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    j = Journal(tmp_path / "j")
    j.append(entry(1))
    j.close()
    [seg] = (tmp_path / "j").glob("*.log")
    with seg.open("ab") as f:
        f.write(b'not json\n{"seq": 2, "id": 1')  # a line that is not ours, then a cut one
    with caplog.at_level(logging.WARNING, logger="triggerfish.store.journal"):
        again = Journal(tmp_path / "j")
    assert [e.seq for e in again.entries_after(0)] == [1]
    assert "line 2 is not an entry" in caplog.text
    again.append(entry(2))  # in a new segment: the cut line stays where it was
    assert [e.seq for e in again.entries_after(0)] == [1, 2]


def test_resume_after_the_engines_last(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.resume_after(41)  # its files were deleted by hand; the engine had applied 41 lines
    j.append(entry(42))
    j.close()
    assert [e.seq for e in Journal(tmp_path / "j").entries_after(0)] == [42]


def test_the_journal_is_private(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append(entry(1))
    assert (tmp_path / "j").stat().st_mode & 0o777 == 0o700
    [seg] = (tmp_path / "j").glob("*.log")
    assert seg.stat().st_mode & 0o777 == 0o600


def test_integers_beyond_64_bits_come_back_exactly(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    job = {"prototype": "task", "package": {"params": {"n": 2**70, "m": [-(2**65), 0.1]}}}
    j.append(Entry(1, 7, "alice", job))
    j.close()
    assert Journal(tmp_path / "j").entries_after(0) == [Entry(1, 7, "alice", job)]


def test_a_write_that_fails_half_way_leaves_no_piece(tmp_path: Path) -> None:
    """The file size limit (as a full disk would) stops a write part of the way: what it
    wrote is cut back, and the next line after the limit is lifted reads whole."""
    script = f"""
import resource, signal, sys
sys.path[:0] = {sys.path!r}
from pathlib import Path
from triggerfish.store.journal import Entry, Journal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
j = Journal(Path({str(tmp_path / "j")!r}))
j.append(Entry(1, 1, "a", {{"x": "a" * 100}}))
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (200, hard))
try:
    j.append(Entry(2, 2, "a", {{"x": "b" * 300}}))
except OSError as exc:
    print("refused", exc.errno)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
j.append(Entry(2, 3, "a", {{"x": "c"}}))
j.close()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    assert out.stdout.startswith("refused")
    got = Journal(tmp_path / "j").entries_after(0)
    assert [(e.seq, e.job_id, e.job["x"][:1]) for e in got] == [(1, 1, "a"), (2, 3, "c")]
