"""A worker with ``--jobtypes`` against the stand-in supervisor of test_worker_agent (real HTTP,
real worker, real job type processes): the registration names its job types, an item's report
carries the ``resultpackage`` and its log what the process printed, and an instance whose
report is acknowledged without a next item ends its process with ``complete``.

(The real supervisor's side is tested in tests/acceptance/test_jobtype_worker.py.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_worker_agent import Stub, WorkerThread, bound_socket, wait_until

from triggerfish.api.schemas import Assignment

pytestmark = [
    pytest.mark.skipif(os.name != "posix", reason="job types need a POSIX system"),
    pytest.mark.timeout(60),
]

EXECUTE = """\
import os
import triggerfish.qb as qb

job = qb.jobobj()
with open(job["package"]["trace"], "a") as f:
    f.write("start %d\\n" % os.getpid())
while True:
    work = qb.requestwork()
    if work["status"] != "running":
        with open(job["package"]["trace"], "a") as f:
            f.write("end %s\\n" % work["status"])
        qb.reportjob(work["status"])
        break
    print("squaring", work["name"])
    n = int(work["name"])
    work["status"] = "complete"
    work["resultpackage"] = {"square": n * n, "pid": os.getpid(), "item": work["package"]}
    qb.reportwork(work)
"""


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub(bound_socket())
    s.start()
    yield s
    s.stop()


def item(token: str, n: int, trace: Path) -> Assignment:
    fields: dict[str, Any] = {
        "token": token, "job": 3, "subid": 0, "work": str(n), "pgrp": 3, "name": "squares",
        "prototype": "square", "package": {"trace": str(trace)}, "work_package": {"n": n},
    }  # fmt: skip
    return Assignment(**fields)


def test_a_worker_runs_its_job_types_and_reports_their_results(stub: Stub, tmp_path: Path) -> None:
    types = tmp_path / "types"
    (types / "square").mkdir(parents=True)
    (types / "square" / "execute.py").write_text(EXECUTE)
    trace = tmp_path / "trace.txt"
    w = WorkerThread(stub.url, jobtype_dirs=[types], installed_jobtypes=False)
    try:
        wait_until(lambda: stub.registrations, what="registration")
        assert stub.registrations[0][0].jobtypes == ["square"]
        stub.push(item("t1", 4, trace))
        first = stub.report_of("t1")
        assert first["status"] == "complete"
        assert first["result"]["square"] == 16 and first["result"]["item"] == {"n": 4}
        assert "squaring 4\n" in stub.stdout("t1")
        # the stub's answer to the report hands the instance no next item: its process ends
        wait_until(lambda: "end complete" in trace.read_text(), what="the end of the process")
        stub.push(item("t2", 5, trace))  # a later item of the instance: a fresh process
        second = stub.report_of("t2")
        assert second["status"] == "complete" and second["result"]["square"] == 25
        assert second["result"]["pid"] != first["result"]["pid"]
        wait_until(lambda: trace.read_text().count("end complete") == 2, what="the second end")
    finally:
        assert w.stop() == 0
