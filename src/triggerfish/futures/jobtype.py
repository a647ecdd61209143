"""The ``pyfutures`` job type: runs the calls of ``triggerfish.futures.Executor`` on a worker.

One process per instance (the worker starts it: entry point group ``triggerfish.jobtypes``,
or ``python -m triggerfish.futures.jobtype``). It loads the job's callable once, then asks
for items in a loop (``qb.requestwork``), runs each item's calls and reports their return
values or exception as the item's ``resultpackage`` (``qb.reportwork``): the hot loop of a
``map``, so it does nothing else per item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from triggerfish.futures.encoding import decode_calls, encode_results, load_fn, run_calls

ENDS = ("complete", "pending", "blocked")  # requestwork's statuses for "no more for you"
WAIT = 1.0  # seconds before asking again when requestwork says "waiting"


def run_item(fn: Callable[..., Any] | BaseException, package: Mapping[str, Any],
             allow_pickle: bool) -> dict[str, Any]:  # fmt: skip
    """The result package of one item (``fn`` is the exception when the callable did not
    load: every item fails with it)."""
    if isinstance(fn, BaseException):
        return encode_results([], fn, allow_pickle)
    try:
        calls = decode_calls(package)
    except Exception as exc:
        return encode_results([], exc, allow_pickle)
    results, error = run_calls(fn, calls)
    return encode_results(results, error, allow_pickle)


def _loaded(package: Mapping[str, Any]) -> Callable[..., Any] | BaseException:
    try:
        return load_fn(package)
    except Exception as exc:
        return exc


def _headline(error: Mapping[str, Any]) -> str:
    """``ValueError: x``: the item's error as the farm shows it (the result has the rest)."""
    kind = str(error.get("type", "")).rpartition(":")[2] or "Exception"
    message = str(error.get("message", ""))
    return f"{kind}: {message}" if message else kind


def main() -> int:
    """Serve the items of this instance until the job has no more for it."""
    from triggerfish import qb

    package = dict(qb.jobobj().get("package") or {})
    fn = _loaded(package)
    allow_pickle = bool(package.get("pickle_results"))
    while True:
        work = qb.requestwork()
        status = work.get("status")
        if status in ENDS:
            qb.reportjob(status)
            return 0
        if status == "waiting":
            time.sleep(WAIT)
            continue
        result = run_item(fn, work.get("package") or {}, allow_pickle)
        work["resultpackage"] = result
        if "error" in result:
            work["status"] = "failed"
            work["error"] = _headline(result["error"])
        else:
            work["status"] = "complete"
        qb.reportwork(work)


if __name__ == "__main__":
    raise SystemExit(main())
