"""How a host's worker ends: gone (its long poll's connection broke), signed off, marked down
by hand, and forgotten.

A worker always keeps one long poll open (``server.longpoll``), even with every slot busy. When
its process dies while its machine stays up, the kernel closes its connections: the pull's
connection breaks with no answer sent. The server then takes the pull back and marks the host
*lost* (:func:`pull_lost`). A worker that lives calls in again at once (its client retries a
broken request after a fraction of a second); one that does not within
``workers.LOST_GRACE`` is gone: ``workers.check_hosts`` marks its host down, and its running
attempts go back to pending (each counted, with a ``retry`` event) for other hosts to take.
A machine that goes silent (power, network) closes nothing: the host timeout covers it.

A worker stopped cleanly signs off (:func:`sign_off`): first its host is down at once and its
waiting pull is answered empty (no more work for it); once it has stopped its commands and
sent its last reports, a final sign-off loses what it still held.
"""

from __future__ import annotations

import logging

from triggerfish.api import schemas as s
from triggerfish.engine import ahead, nextjobs
from triggerfish.engine.objects import HostRT
from triggerfish.engine.parking import Answer
from triggerfish.engine.state import State
from triggerfish.engine.workers import SessionGone, host_down
from triggerfish.errors import Conflict, NotFound

logger = logging.getLogger(__name__)


def pull_lost(state: State, name: str, session: str, answer: Answer | None) -> None:
    """The connection of ``name``'s pull broke before its answer was sent: take the pull back
    if it still waits (``answer``), and suspect the worker gone."""
    _unpark(state, name, answer)
    host = state.hosts.get(name)
    if host is None or host.session != session or host.state != "active":
        return
    if name in state.parked:  # another pull of it waits: a newer one (it lives)
        return
    host.lost = (session, state.now)
    logger.info(
        "the long poll of host %s broke; gone unless it calls in again",
        name,
        extra={"action": "host.lost", "host": name},
    )


def _unpark(state: State, name: str, answer: Answer | None = None) -> None:
    """Answer ``name``'s waiting pull empty (only if it is ``answer``, when given)."""
    p = state.parked.get(name)
    if p is not None and (answer is None or p.answer is answer):
        del state.parked[name]
        state.answers.append((p.answer, s.PullResponse(), None))


def sign_off(state: State, name: str, req: s.SignOffRequest) -> None:
    """The worker stops: its host is down now and gets no more work (its waiting pull is
    answered empty; what was held ahead for it goes back). Its running attempts stay its own
    while it stops them and sends its last reports; the final sign-off (``req.final``) loses
    what it still holds and ends its session."""
    host = state.hosts.get(name)
    if host is None or host.session != req.session:
        raise SessionGone(f"host {name!r} has no session {req.session!r}")
    _unpark(state, name)
    host.lost = None
    if host.state != "down":
        host.state = "down"
        state.touch_host(host)
        state.emit("down", "host", host=name, data={"why": "signed off"})
    ahead.drop_host(state, host)
    nextjobs.drop_host(state, host)
    if req.final:
        host_down(state, host, "signed off")
        host.session = None
        state.touch_host(host)
    logger.info(
        "host %s signed off%s",
        name,
        "" if req.final else " (stopping)",
        extra={"action": "host.signoff", "host": name},
    )


def known(state: State, name: str) -> HostRT:
    """Host ``name``; NotFound if there is none."""
    host = state.hosts.get(name)
    if host is None:
        raise NotFound(f"host {name!r} does not exist", field="host")
    return host


def mark_down(state: State, name: str) -> s.HostInfo:
    """Mark a host down by hand (its worker is known dead): its running work goes back to
    pending at once. A worker that lives calls in again and is up again (its old attempts
    cancelled)."""
    host = known(state, name)
    _unpark(state, name)
    host_down(state, host, "marked down")
    return host_info(host)


def remove(state: State, name: str) -> s.HostInfo:
    """Forget a host that is down and holds nothing; Conflict otherwise."""
    host = known(state, name)
    if host.state != "down":
        raise Conflict(
            f"host {name!r} is {host.state}: stop its worker (or mark it down) first",
            field="host",
        )
    held = len(host.attempts) + len(host.reserved) + len(host.adopt)
    if held:
        raise Conflict(
            f"host {name!r} still holds {held} attempt(s) (its worker was stopping): mark it "
            "down again to give them back ('triggerfish host down'), then remove it",
            field="host",
        )
    info = host_info(host)
    del state.hosts[name]
    _unpark(state, name)
    state.dirty_hosts.discard(name)
    if name in state.new_hosts:
        state.new_hosts.discard(name)
    else:
        state.ch.host_deletes.append(name)
    return info


def host_info(host: HostRT) -> s.HostInfo:
    """What the host verbs answer: the host as the engine sees it now."""
    return s.HostInfo(
        name=host.name, state=host.state, slots=host.slots, used=host.slots - host.free,
        properties=host.properties, groups=host.groups, cluster=host.cluster,
        last_seen=host.last_seen, registered=host.registered, locked=host.locked,
        locked_by=host.locked_by, locked_at=host.locked_at, check=host.check,
        jobtypes=sorted(host.jobtypes),
    )  # fmt: skip
