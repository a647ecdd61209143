"""Schemathesis hooks of tests/acceptance/test_openapi_fuzz.py: long polls answer at once.

``GET /events?wait=`` and a worker's pull wait up to 60 s for something to happen; the fuzzer
would spend its time budget waiting. The waits are cut to a tenth of a second (what a wait
does is tested elsewhere); everything else is sent as generated.
"""

from typing import Any

import schemathesis

WAIT = 0.1


def _cut(values: Any) -> None:
    if not isinstance(values, dict) or isinstance(values.get("wait"), bool):
        return
    try:
        wait = float(values["wait"])
    except (KeyError, TypeError, ValueError):
        return
    if wait > WAIT:
        values["wait"] = WAIT


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    _cut(case.query)
    _cut(case.body)
