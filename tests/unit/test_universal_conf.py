"""callbacks.conf: every line checked, bad lines reported with why and skipped, the good ones
kept; changes picked up by a stat check; ``triggerfish callbacks check --path``."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from triggerfish.callbacks.universal import UniversalCallbacks, parse_path, read_conf
from triggerfish.cli.main import cli


def _dir(tmp_path: Path, conf: str, files: dict[str, str]) -> Path:
    d = tmp_path / "cb"
    d.mkdir(exist_ok=True)
    (d / "callbacks.conf").write_text(conf)
    for name, text in files.items():
        (d / name).write_text(text)
    return d


FILES = {"a.py": "print(1)", "b.pl": "print 1;", "c.qcb": "mail-status\n", "d.sh": "echo",
         "e.qcb": "fly-away-self", "f.py": "x"}  # fmt: skip
CONF = """\
# comment
a.py = submit-job-self
b.pl=done-work-self-*      # a comment after the trigger

c.qcb = done-job-self
no equals sign here
d.sh = done-job-self
gone.py = done-job-self
f.py = complete-job-self &&
e.qcb = done-job-self
a.py = complete-job-self
f.py =
"""


def test_each_bad_line_says_why_and_the_good_ones_stay(tmp_path: Path) -> None:
    d = _dir(tmp_path, CONF, FILES)
    conf = read_conf([d])
    good = [(e.line, e.file, e.language, e.trigger) for e in conf.entries]
    assert good == [(2, "a.py", "python", "submit-job-self"),
                    (3, "b.pl", "perl", "done-work-self-*"),
                    (5, "c.qcb", "qube", "done-job-self")]  # fmt: skip
    assert conf.entries[0].path == str((d / "a.py").resolve())
    bad = {p.line: p.error for p in conf.problems}
    assert sorted(bad) == [6, 7, 8, 9, 10, 11, 12]
    assert bad[6] == "expected 'file = trigger'"
    assert bad[7].startswith("unknown extension '.sh' of d.sh (known: .py, .pl, .qcb)")
    assert bad[8].startswith("missing file:") and "gone.py does not exist" in bad[8]
    assert bad[9].startswith("bad trigger 'complete-job-self &&': column")
    assert bad[10].startswith("bad qube actions in e.qcb: unknown qube action 'fly-away-self'")
    assert bad[11].startswith("duplicate entry: a.py is already mapped at") and ":2 " in bad[11]
    assert bad[12] == "no trigger after 'f.py ='"
    assert conf.qcb == {str((d / "c.qcb").resolve()): ["mail-status"]}
    specs = conf.specs()
    assert (specs[0].language, specs[0].code) == ("python", str((d / "a.py").resolve()))


def test_several_directories_and_ones_without_a_conf(tmp_path: Path) -> None:
    one = _dir(tmp_path, "a.py = submit-job-self\n", {"a.py": ""})
    other = tmp_path / "other"
    other.mkdir()
    (other / "callbacks.conf").write_text("a.py = done-job-self\n")
    (other / "a.py").write_text("")
    dirs = parse_path(f" {one} , {other},{tmp_path / 'none'} ")
    conf = read_conf(dirs)
    assert [e.trigger for e in conf.entries] == ["submit-job-self", "done-job-self"]
    assert conf.missing == [str(tmp_path / "none")] and conf.problems == []


def test_changes_are_picked_up_by_the_stat_check(tmp_path: Path) -> None:
    d = _dir(tmp_path, "a.py = submit-job-self\nlater.py = done-job-self\n", {"a.py": ""})
    ucb = UniversalCallbacks([d])
    first = ucb.current()
    assert [e.file for e in first.entries] == ["a.py"] and len(first.problems) == 1
    assert ucb.current() is first  # nothing changed: not re-read
    (d / "later.py").write_text("print(2)")  # the missing file appears
    assert [e.file for e in ucb.current().entries] == ["a.py", "later.py"]
    (d / "callbacks.conf").write_text("a.py = done-job-self\nx.qcb = done-job-self\n")
    (d / "x.qcb").write_text("unblock-self")
    conf = ucb.current()
    assert [(e.file, e.trigger) for e in conf.entries] == [("a.py", "done-job-self"),
                                                          ("x.qcb", "done-job-self")]  # fmt: skip
    qcb = str((d / "x.qcb").resolve())
    assert ucb.qcb_actions(qcb) == ["unblock-self"]
    (d / "x.qcb").write_text("block-self kill-self")
    st = (d / "x.qcb").stat()
    os.utime(d / "x.qcb", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    ucb.current()
    assert ucb.qcb_actions(qcb) == ["block-self", "kill-self"]
    assert ucb.reload() is not conf


def test_the_check_command_reads_directories_here(tmp_path: Path) -> None:
    d = _dir(tmp_path, CONF, FILES)
    result = CliRunner().invoke(cli, ["callbacks", "check", "--path", str(d)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "unknown extension '.sh'" in text and "duplicate entry" in text
    assert "missing file" in text and "bad trigger" in text and "a.py" in text
    ok = _dir(tmp_path, "a.py = submit-job-self\n", {})
    result = CliRunner().invoke(cli, ["callbacks", "check", "--path", str(ok), "--json"])
    assert result.exit_code == 0, result.output
