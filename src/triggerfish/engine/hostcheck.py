"""A worker's own health check (``triggerfish worker --check CMD``) in the engine.

The worker runs its check every ``--check-interval`` seconds and says how it went with its
registration, its pulls and its reports (``check``: ``""`` passes, a text says why it fails,
absent says nothing new). While it fails the host takes no new work (``HostRT.takes_work``;
what runs there goes on), as if locked, but nothing is stored: the worker says it again after a
restart of the supervisor. A ``check`` host event marks each change (``failing`` and
``reason`` in its data); what was held ahead for the host goes back to pending when it starts
to fail. ``triggerfish hosts``, ``GET /api/v1/hosts``, ``qb.hostinfo()`` and the web page show
the reason.
"""

from __future__ import annotations

import logging

from triggerfish.engine import ahead, nextjobs
from triggerfish.engine.objects import HostRT
from triggerfish.engine.state import State

logger = logging.getLogger(__name__)


def heard(state: State, host: HostRT, check: str | None, arrived: float) -> None:
    """The worker of ``host`` says its check passes (``""``) or why it fails (None: nothing),
    in a request that reached the supervisor at ``arrived`` (a long poll runs again later with
    the request it came with: what a newer request said stands)."""
    if check is None or arrived < host.check_at:
        return
    host.check_at = arrived
    failing = check or None
    if failing == host.check:
        return
    host.check = failing
    state.emit("check", "host", host=host.name,
               data={"failing": failing is not None, "reason": failing or ""})  # fmt: skip
    if failing is not None:  # what was handed out ahead goes back, for other hosts
        ahead.drop_host(state, host)
        nextjobs.drop_host(state, host)
        logger.warning("host %s fails its check: %s", host.name, failing,
                       extra={"action": "host.check_failing", "host": host.name})  # fmt: skip
    else:
        state.work_available = True
        state.wake_hosts.add(host.name)
        logger.info("host %s passes its check again", host.name,
                    extra={"action": "host.check_passing", "host": host.name})  # fmt: skip
