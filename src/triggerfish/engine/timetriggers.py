"""Time atoms (SPEC §3.4) on durable timers: ``dummy-time-self-T``, ``dummy-repeat-self-T-N``,
``globaltime-T``, ``globalrepeat-T-N``.

One timer per distinct time atom key (name, type, job, time): callbacks with the same atom
share it. When it is due, the handler emits the time event — name and type of the atom, the
job (None for global ones), ``data.time`` the key's extra — and the trigger index latches every
atom listening to it, so time atoms combine with other atoms under the usual rules. A repeat
reschedules itself on its fixed grid ``T + k·N``; after downtime it fires once, then goes on
on the grid.

Registering a callback schedules the timers of its time atoms (a time already past fires at
once: a one-shot time once, a repeat at its next grid time). Removing the callback (its job
removed, a global callback removed) or exhausting its ``maximum`` drops its references; a
timer nobody references any more is cancelled. The references are rebuilt from the callbacks
at start; the timers themselves come back from the store, so a one-shot time that has fired
does not fire again after a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from triggerfish.engine import timers
from triggerfish.triggers import Key
from triggerfish.triggers.ast import TimeAtom

if TYPE_CHECKING:
    from triggerfish.engine.callbacks import CallbackRT, Registry

KIND = "time"


def timer_key(key: Key) -> str:
    """The timer key of a time atom's index key."""
    name, type_, job, extra = key
    return f"time:{'*' if job is None else job}:{name}:{type_}:{extra}"


def _time_atoms(cb: CallbackRT) -> list[tuple[TimeAtom, Key]]:
    out = []
    for no, atom in cb.compiled.timers():
        key = cb.compiled.keys[no]
        assert key is not None
        out.append((atom, key))
    return out


def refer(reg: Registry, cb: CallbackRT) -> None:
    """Count ``cb`` among the users of its time atoms' timers (at registration and start)."""
    for _, key in _time_atoms(cb):
        reg.timer_refs.setdefault(timer_key(key), set()).add(cb.id)


def schedule(state: Any, cb: CallbackRT) -> None:
    """A new callback: start the timers of its time atoms that are not running yet."""
    for atom, key in _time_atoms(cb):
        tkey = timer_key(key)
        if tkey in state.timers:
            continue
        at = atom.unix_time()
        due = at
        if atom.every is not None and at < state.now:
            due = timers.next_on_grid(at, atom.every, state.now)
        payload = {
            "name": key[0], "type": key[1], "job": key[2], "time": key[3], "at": at,
            "every": atom.every,
        }  # fmt: skip
        state.timers.add(tkey, due, KIND, payload)


def release(state: Any, cb: CallbackRT) -> None:
    """``cb`` no longer listens: cancel the timers no callback references any more."""
    refs: dict[str, set[int]] = state.cbs.timer_refs
    for _, key in _time_atoms(cb):
        tkey = timer_key(key)
        users = refs.get(tkey)
        if users is None:
            continue
        users.discard(cb.id)
        if not users:
            del refs[tkey]
            state.timers.cancel(tkey)


@timers.handler(KIND)
def _fire(state: Any, timer: timers.Timer) -> None:
    """Emit the time event; a repeat goes on on its grid while someone listens."""
    p = timer.payload
    if timer.key not in state.cbs.timer_refs:
        return
    state.emit(
        p["name"],
        p["type"],
        job=p["job"],
        data={"time": p["time"], "due": timer.due, "late": round(state.now - timer.due, 6)},
    )
    every = p.get("every")
    if every and timer.key in state.cbs.timer_refs and timer.key not in state.timers:
        state.timers.add(timer.key, timers.next_on_grid(p["at"], every, state.now), KIND, p)
