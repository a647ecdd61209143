"""The wire format of ``triggerfish.futures`` (pure: the supervisor checks it, the client and
the ``pyfutures`` job type write and read it).

A job of prototype ``pyfutures`` runs calls of one Python callable. Its package names it::

    {"fn": "math:sqrt"}                       # module:qualname, imported on the worker
    {"fn_pickle": "<base64 of a pickle>"}     # anything else (a lambda, a closure)
    + "pickle_results": true                  # the worker may pickle what is not JSON

Each agenda item carries one call, or a chunk of calls, of that callable::

    {"calls": [[args, kwargs], ...]}          # JSON
    {"calls_pickle": "<base64 of a pickle of [(args, kwargs), ...]>"}

and its result package holds the return values, in order, up to the first exception::

    {"results": [...]} | {"results_pickle": "<base64>"}
    + "error": {"type": "module:qualname", "args": [...], "message", "traceback",
                "pickle"?: "<base64 of the exception>"}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PROTOTYPE = "pyfutures"
# the keys whose values are pickles: refused unless the supervisor runs with --allow-pickle
JOB_PICKLE_KEYS = ("fn_pickle",)
ITEM_PICKLE_KEYS = ("calls_pickle",)


def pickle_field(package: Mapping[str, Any], items: Iterable[Any]) -> str | None:
    """Where a ``pyfutures`` job (its package, its agenda items) carries a pickle:
    ``package.fn_pickle`` or ``agenda[i].package.calls_pickle``; None when it carries none."""
    for key in JOB_PICKLE_KEYS:
        if key in package:
            return f"package.{key}"
    for i, item in enumerate(items):
        pkg = item.get("package") if isinstance(item, Mapping) else getattr(item, "package", None)
        if not isinstance(pkg, Mapping):
            continue
        for key in ITEM_PICKLE_KEYS:
            if key in pkg:
                return f"agenda[{i}].package.{key}"
    return None
