"""Host locks: an admin takes a host out of dispatch without stopping its worker.

``triggerfish host lock NAME`` (``POST /api/v1/hosts/{name}/lock``) locks a host: from then
on it gets no new work: :func:`engine.dispatch.dispatch` skips it, an instance that ends an
item on it does not go on with its next item there (``dispatch.start_next``), lookahead
(``engine.ahead``) and whole jobs held behind its slots (``engine.nextjobs``) are withdrawn
at once and go back to pending for other hosts. What runs on it finishes and is reported as
usual. ``unlock`` gives it work again. Each writes a ``lock`` / ``unlock`` host event (with
``by``, the admin) and the lock is stored on the host's row (``locked_by``, ``locked_at``), so
it survives a restart of the supervisor and a new registration of the worker.

Locking a host that is locked (or unlocking one that is not) changes nothing and writes no
event: the answer is the host as it is. This is Qube's host lock (``qblock`` / the ``locks``
of ``qb.hostinfo()``), for the whole host.
"""

from __future__ import annotations

import logging

from triggerfish.api import schemas as s
from triggerfish.engine import ahead, nextjobs
from triggerfish.engine.hosts import host_info, known
from triggerfish.engine.state import State

logger = logging.getLogger(__name__)


def lock(state: State, name: str, by: str) -> s.HostInfo:
    """Lock host ``name`` (NotFound if unknown): no new work; what runs on it finishes."""
    host = known(state, name)
    if host.locked:
        return host_info(host)
    host.locked_by, host.locked_at = by, state.now
    state.touch_host(host)
    state.emit("lock", "host", host=name, data={"by": by})
    # what was handed out ahead (not running yet) goes back to pending, for other hosts
    ahead.drop_host(state, host)
    nextjobs.drop_host(state, host)
    state.work_available = True
    logger.info("host %s locked by %s", name, by, extra={"action": "host.lock", "host": name})
    return host_info(host)


def unlock(state: State, name: str, by: str) -> s.HostInfo:
    """Unlock host ``name`` (NotFound if unknown): it gets work again."""
    host = known(state, name)
    if not host.locked:
        return host_info(host)
    host.locked_by = host.locked_at = None
    state.touch_host(host)
    state.emit("unlock", "host", host=name, data={"by": by})
    state.work_available = True
    state.wake_hosts.add(name)  # (its waiting pull, if any, is served now)
    logger.info("host %s unlocked by %s", name, by, extra={"action": "host.unlock", "host": name})
    return host_info(host)
