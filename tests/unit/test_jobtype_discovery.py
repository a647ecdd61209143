"""Job types a worker offers: ``--jobtypes`` directories, their job.conf, and entry points of
installed distributions (a real ``.dist-info`` on ``sys.path``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from triggerfish.worker import jobtypes
from triggerfish.worker.agent import WorkerOptions
from triggerfish.worker.jobtypes import (
    JobTypeError,
    discover,
    from_target,
    package_defaults,
    parse_conf,
)

QUBE_CONF = """\
[description]
detail = "QBFutures Executor"
short_detail = qbfutures

[submit module]
# submit_binding = Python

[execute module]
execute_binding = Python
execute_library = execute.py

[package]
renderer = 'arnold'
threads = 4
"""


def jobtype(base: Path, name: str, conf: str | None = None, program: str = "execute.py") -> Path:
    d = base / name
    d.mkdir(parents=True)
    (d / program).write_text("print('hi')\n")
    if conf is not None:
        (d / "job.conf").write_text(conf)
    return d


def test_a_directory_with_execute_py_is_a_job_type(tmp_path: Path) -> None:
    square = jobtype(tmp_path, "square")
    (tmp_path / "notype").mkdir()  # no execute.py: not a job type
    (tmp_path / "afile.py").write_text("")
    found = discover([tmp_path], installed=False)
    assert list(found) == ["square"]
    jt = found["square"]
    assert jt.argv == (sys.executable, str(square / "execute.py"))
    assert jt.defaults == {}
    assert jt.source == str(square)


def test_qube_job_conf_gives_the_package_defaults(tmp_path: Path) -> None:
    jobtype(tmp_path, "qbfutures", QUBE_CONF)
    jt = discover([tmp_path], installed=False)["qbfutures"]
    assert jt.defaults == {"renderer": "arnold", "threads": "4"}  # unquoted, strings
    assert jt.conf["description"] == {"detail": "QBFutures Executor", "short_detail": "qbfutures"}
    assert jt.conf["execute module"]["execute_library"] == "execute.py"
    assert jt.describe()["name"] == "qbfutures"


def test_keys_before_any_section_are_defaults_and_package_wins() -> None:
    conf = parse_conf("frames = 1-10\nCamera = main\n[package]\nframes = 5\n")
    assert conf[""] == {"frames": "1-10", "Camera": "main"}  # (keys keep their case)
    assert package_defaults(conf) == {"frames": "5", "Camera": "main"}


def test_execute_library_names_the_program(tmp_path: Path) -> None:
    d = jobtype(tmp_path, "maya", "[execute module]\nexecute_library = run_maya.py\n")
    (d / "run_maya.py").write_text("")
    assert discover([tmp_path], installed=False)["maya"].argv[1] == str(d / "run_maya.py")


def test_a_bad_job_conf_leaves_the_job_type_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    jobtype(tmp_path, "broken", "[package\nx = 1\n")
    jobtype(tmp_path, "good")
    with caplog.at_level(logging.WARNING):
        found = discover([tmp_path], installed=False)
    assert list(found) == ["good"]
    assert "broken" in caplog.text
    with pytest.raises(JobTypeError, match=r"job\.conf"):
        parse_conf("= no key\n[x\n")


def test_first_directory_wins_and_builtin_names_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = jobtype(tmp_path / "a", "nuke")
    jobtype(tmp_path / "b", "nuke")
    jobtype(tmp_path / "b", "cmdrange")
    with caplog.at_level(logging.WARNING):
        found = discover([tmp_path / "a", tmp_path / "b", tmp_path / "missing"], installed=False)
    assert list(found) == ["nuke"]
    assert found["nuke"].source == str(first)
    assert "hidden" in caplog.text
    assert "cmdrange" in caplog.text
    assert "missing" in caplog.text


def test_entry_point_targets() -> None:
    mod = from_target("futures", "pkg.jobtype")
    assert mod.argv == (sys.executable, "-m", "pkg.jobtype")
    func = from_target("futures", "pkg.jobtype:main")
    assert func.argv[:2] == (sys.executable, "-c")
    assert "'pkg.jobtype'" in func.argv[2] and "'main'" in func.argv[2]
    with pytest.raises(JobTypeError, match="module:function"):
        from_target("bad", "not a module")


def test_entry_points_of_installed_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "tf_demo_jobtypes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tf-demo-jobtypes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[triggerfish.jobtypes]\ndemo_mod = tf_demo.run\ndemo_fn = tf_demo.run:main\n"
        "nuke = tf_demo.nuke\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    dirs = tmp_path / "types"
    jobtype(dirs, "nuke")
    found = discover([dirs])
    assert found["demo_mod"].argv == (sys.executable, "-m", "tf_demo.run")
    assert found["demo_fn"].source == "entry point tf_demo.run:main"
    assert found["nuke"].source == str(dirs / "nuke")  # a directory wins over an entry point
    assert "demo_fn" not in discover([dirs], installed=False)


def test_the_registration_names_the_job_types() -> None:
    options = WorkerOptions(url="http://127.0.0.1:1", name="w1")
    assert options.registration().jobtypes == []
    assert options.registration(["square", "nuke"]).jobtypes == ["nuke", "square"]


def test_job_types_that_come_with_triggerfish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(jobtypes.BUILTIN_JOBTYPES, "tf_demo_builtin", "tf_demo.builtin:main")
    monkeypatch.setitem(jobtypes.BUILTIN_JOBTYPES, "tf_demo_shadowed", "tf_demo.other")
    jobtype(tmp_path, "tf_demo_shadowed")
    found = discover([tmp_path])
    assert found["tf_demo_builtin"].source == "entry point tf_demo.builtin:main"
    assert found["tf_demo_shadowed"].source == str(tmp_path / "tf_demo_shadowed")
    assert "tf_demo_builtin" not in discover([tmp_path], installed=False)
