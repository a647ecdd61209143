"""Callbacks in the engine: registration, matching events, firing, and qube actions.

Every event the state emits is looked up in the trigger index; the atoms it matches latch, and
firings are queued. ``run_fired`` runs the queued firings at the end of the batch, in the same
transaction as the events that caused them: a crash loses or doubles no firing. ``qube``
actions change state directly (and may emit events that fire further callbacks).
"""

from __future__ import annotations

import difflib
import logging
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from triggerfish.callbacks.qube import (
    JOB_ACTIONS,
    MAIL_ACTIONS,
    NOTE_ACTIONS,
    SUBJOB_ACTIONS,
    SUBJOB_VERB_ACTIONS,
    VERB_ACTIONS,
    parse_actions,
)
from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.engine import timetriggers
from triggerfish.errors import NotFound, TriggerfishError, ValidationError
from triggerfish.store.changes import Row
from triggerfish.triggers import (
    Compiled,
    Firing,
    Latches,
    TriggerIndex,
    catch_up,
    compile_expr,
    parse,
)
from triggerfish.triggers.vocabulary import TIME_TYPES

logger = logging.getLogger(__name__)
MAX_FIRINGS_PER_BATCH = 200_000  # a guard against callbacks that trigger each other forever


@dataclass(slots=True)
class CallbackRT:
    id: int
    job_id: int | None
    pgrp: int | None
    source: str
    triggers: str
    language: str
    code: str
    user: str
    catchup: bool
    created: float
    compiled: Compiled
    latches: Latches
    actions: list[str]

    def row(self) -> Row:
        return {
            "id": self.id, "job_id": self.job_id, "source": self.source,
            "triggers": self.triggers, "language": self.language, "code": self.code,
            "user": self.user, "count": self.latches.count, "maximum": self.latches.maximum,
            "catchup": self.catchup, "latches": self.latches.to_json(), "created": self.created,
        }  # fmt: skip


class Registry:
    """The callbacks the engine knows, their index, and the firings not yet run."""

    def __init__(self) -> None:
        self.callbacks: dict[int, CallbackRT] = {}
        self.index = TriggerIndex()
        self.waiting: dict[tuple[int, str], set[int]] = {}  # (pgrp, label) -> callback ids
        self.fired: deque[tuple[int, Firing, dict[str, Any]]] = deque()
        self.next_id = 1
        self.next_run = 1
        self.new: set[int] = set()
        self.dirty: set[int] = set()
        self.deleted: set[int] = set()
        self.runs: list[Row] = []
        self.run_updates: list[Row] = []
        self.launch: list[Row] = []  # python runs to start once their rows are committed
        self.timer_refs: dict[str, set[int]] = {}  # time atom timer key -> callback ids
        self.by_job: dict[int, set[int]] = {}  # job id -> the ids of its own callbacks

    def of_job(self, job_id: int) -> list[CallbackRT]:
        """The callbacks attached to job ``job_id`` (its own, dependencies, universal)."""
        return [self.callbacks[i] for i in self.by_job.get(job_id, ()) if i in self.callbacks]

    def clear_changes(self) -> None:
        self.new = set()
        self.dirty = set()
        self.deleted = set()
        self.runs = []
        self.run_updates = []

    def take(self) -> tuple[list[Row], list[Row], list[int], list[Row], list[Row]]:
        """Rows to insert, to update, ids to delete, runs to insert and to update."""
        ins = [self.callbacks[i].row() for i in sorted(self.new) if i in self.callbacks]
        upd = [
            self.callbacks[i].row() for i in sorted(self.dirty - self.new) if i in self.callbacks
        ]
        dele = sorted(self.deleted - self.new)
        runs, run_updates = self.runs, self.run_updates
        self.clear_changes()
        return ins, upd, dele, runs, run_updates


def event_extra(ev: Mapping[str, Any]) -> str | None:
    t = ev["type"]
    if t == "work":
        return ev["work"]  # type: ignore[no-any-return]
    if t == "subjob":
        return None if ev["subid"] is None else str(ev["subid"])
    if t == "host":
        return ev["host"]  # type: ignore[no-any-return]
    if t in TIME_TYPES:
        data = ev.get("data") or {}
        return data.get("time")
    return None


def on_event(
    state: Any,
    ev: dict[str, Any],
    only: set[int] | None = None,
    atoms: Mapping[int, Collection[int]] | None = None,
) -> None:
    """Latch the atoms an event matches (of the callbacks ``only``, if given; of the atoms
    ``atoms[callback id]``, if given); queue the firings."""
    reg: Registry = state.cbs
    matches = reg.index.match(ev["name"], ev["type"], ev["job"], event_extra(ev))
    if not matches:
        return
    by_cb: dict[int, list[tuple[int, Mapping[str, str]]]] = {}
    for m in matches:
        if only is not None and m.callback_id not in only:
            continue
        if atoms is not None and m.atom_no not in atoms.get(m.callback_id, ()):
            continue
        by_cb.setdefault(m.callback_id, []).append((m.atom_no, m.bindings))
    for cb_id, hits in by_cb.items():
        cb = reg.callbacks.get(cb_id)
        if cb is None:
            continue
        firings = cb.latches.on_event(hits)
        reg.dirty.add(cb_id)
        for f in firings:
            reg.fired.append((cb_id, f, ev))
        if firings and cb.latches.exhausted and cb.compiled.has_timers:
            timetriggers.release(state, cb)


# ---------------------------------------------------------------- registration


def closest(label: str, known: Iterable[str]) -> str | None:
    lower = {k.lower(): k for k in known}
    if label.lower() in lower:
        return lower[label.lower()]
    found = difflib.get_close_matches(label, list(known), n=1, cutoff=0.6)
    return found[0] if found else None


def register(
    state: Any,
    *,
    spec: CallbackSpec,
    source: str,
    job_id: int | None,
    pgrp: int | None,
    parent: int | None,
    labels: Mapping[str, int],
    user: str,
    compiled: Compiled | None = None,
) -> CallbackRT:
    """Add a callback: compile (unless given), index, catch up. Raises before any change."""
    reg: Registry = state.cbs
    if compiled is None:
        compiled = compile_expr(parse(spec.triggers), job_id=job_id, parent=parent, labels=labels)
    cb = CallbackRT(
        id=reg.next_id, job_id=job_id, pgrp=pgrp, source=source, triggers=spec.triggers,
        language=spec.language, code=spec.code, user=user, catchup=spec.catchup,
        created=state.now, compiled=compiled,
        latches=Latches(compiled.program, maximum=spec.maximum),
        actions=_actions(spec.language, source, spec.code),
    )  # fmt: skip
    reg.next_id += 1
    state.counters_dirty = True
    _install(state, cb)
    timetriggers.schedule(state, cb)
    reg.new.add(cb.id)
    return cb


def _install(state: Any, cb: CallbackRT, *, catch: bool = True) -> None:
    reg: Registry = state.cbs
    reg.callbacks[cb.id] = cb
    if cb.job_id is not None:
        reg.by_job.setdefault(cb.job_id, set()).add(cb.id)
    for no, key in cb.compiled.entries():
        reg.index.add(cb.id, no, key)
    timetriggers.refer(reg, cb)
    if cb.pgrp is not None:
        for label in cb.compiled.waiting_labels:
            reg.waiting.setdefault((cb.pgrp, label), set()).add(cb.id)
    if catch and cb.catchup:
        _catch_up(state, cb, None)


def _catch_up(state: Any, cb: CallbackRT, only: Iterable[int] | None) -> None:
    def status_of(type_: str, job_id: int, extra: str | None) -> str | None:
        try:
            job = state.job(job_id)
        except NotFound:
            return None
        if type_ == "job":
            return str(job.status)
        if type_ == "work":
            w = job.work.get(extra)
            return None if w is None else str(w.status)
        if type_ == "subjob" and extra is not None and extra.isdigit():
            s = job.subs.get(int(extra))
            return None if s is None else str(s.status)
        return None

    def items_of(type_: str, job_id: int) -> list[tuple[str, str]]:
        try:
            job = state.job(job_id)
        except NotFound:
            return []
        if type_ == "work":
            return [(w.name, w.status) for w in job.work.values()]
        return [(str(s.subid), s.status) for s in job.subs.values()]

    hits = catch_up(cb.compiled, status_of, items_of, only=None if only is None else set(only))
    if hits:
        # caused by no event: the state was already reached (event_seq 0 says so)
        ev = {"seq": 0, "name": "catchup", "type": "job", "job": cb.job_id,
              "subid": None, "work": None, "host": None}  # fmt: skip
        for f in cb.latches.on_event(hits):
            state.cbs.fired.append((cb.id, f, ev))
        state.cbs.dirty.add(cb.id)


def label_joined(state: Any, pgrp: int, label: str, job_id: int) -> dict[int, tuple[int, ...]]:
    """A job with ``label`` joined ``pgrp``: callbacks waiting for the label start listening.

    Returns the atoms that now name the job (callback id -> atom numbers): the events the job's
    own submission wrote before they listened are the caller's to hand them."""
    reg: Registry = state.cbs
    resolved: dict[int, tuple[int, ...]] = {}
    for cb_id in reg.waiting.pop((pgrp, label), set()):
        cb = reg.callbacks.get(cb_id)
        if cb is None:
            continue
        fresh = cb.compiled.newly_resolved(label)
        cb.compiled = cb.compiled.resolve(label, job_id)
        for no in fresh:
            key = cb.compiled.keys[no]
            if key is not None:
                reg.index.add(cb.id, no, key)
        reg.dirty.add(cb.id)
        resolved[cb.id] = fresh
        if cb.catchup:
            _catch_up(state, cb, fresh)
    return resolved


def remove_job_callbacks(state: Any, job_id: int) -> None:
    reg: Registry = state.cbs
    for cb_id in sorted(reg.by_job.get(job_id, ())):
        _forget(state, cb_id)
    for ids in reg.waiting.values():
        ids.difference_update(reg.deleted)


def remove_callback(state: Any, cb_id: int) -> None:
    """Take one callback out: index, timers, label waits; its row is deleted at commit."""
    reg: Registry = state.cbs
    _forget(state, cb_id)
    for ids in reg.waiting.values():
        ids.discard(cb_id)


def _forget(state: Any, cb_id: int) -> None:
    reg: Registry = state.cbs
    reg.index.remove(cb_id)
    cb = reg.callbacks.pop(cb_id)
    if cb.job_id is not None:
        mine = reg.by_job.get(cb.job_id)
        if mine is not None:
            mine.discard(cb_id)
            if not mine:
                del reg.by_job[cb.job_id]
    timetriggers.release(state, cb)
    reg.deleted.add(cb_id)


def restore(state: Any, row: Row, pgrp: int | None, parent: int | None,
            labels: Mapping[str, int]) -> None:  # fmt: skip
    """Bring back a stored callback at start: its latches as they were committed."""
    compiled = compile_expr(
        parse(row["triggers"]), job_id=row["job_id"], parent=parent, labels=labels
    )
    cb = CallbackRT(
        id=row["id"], job_id=row["job_id"], pgrp=pgrp, source=row["source"],
        triggers=row["triggers"], language=row["language"], code=row["code"],
        user=row["user"], catchup=row["catchup"], created=row["created"], compiled=compiled,
        latches=Latches.from_json(compiled.program, row["latches"], maximum=row["maximum"]),
        actions=_actions(row["language"], row["source"], row["code"]),
    )  # fmt: skip
    _install(state, cb, catch=False)


def _actions(language: str, source: str, code: str) -> list[str]:
    """The qube actions of a callback; a universal one's code is its .qcb file, whose actions
    are looked up when it fires."""
    return parse_actions(code) if language == "qube" and source != "universal" else []


# ---------------------------------------------------------------- running firings


def run_fired(state: Any) -> None:
    """Run every queued firing (qube actions, in the engine); record one run row each."""
    reg: Registry = state.cbs
    n = 0
    while reg.fired:
        n += 1
        cb_id, firing, ev = reg.fired.popleft()
        cb = reg.callbacks.get(cb_id)
        if cb is None:
            continue
        if n > MAX_FIRINGS_PER_BATCH:
            # callbacks that fire each other without end: each firing is still recorded once,
            # as a run that did not run, and the engine goes on
            if n == MAX_FIRINGS_PER_BATCH + 1:
                logger.error(
                    "more than %d firings in one batch: the rest are not run",
                    MAX_FIRINGS_PER_BATCH,
                    extra={"action": "callbacks.storm"},
                )
            _record(state, cb, firing, ev, "failed", "",
                    f"not run: more than {MAX_FIRINGS_PER_BATCH} firings in one batch "
                    "(callbacks firing each other?)")  # fmt: skip
            continue
        if cb.language != "qube":
            _queue_run(state, cb, firing, ev)
            continue
        actions = cb.actions
        if cb.source == "universal":
            try:
                actions = state.qcb_actions(cb.code)
            except TriggerfishError as exc:
                _record(state, cb, firing, ev, "failed", "", exc.message)
                continue
        out: list[str] = []
        error: str | None = None
        mail = False
        for action in actions:
            if action in MAIL_ACTIONS:
                mail = True
                continue
            try:
                out.append(_qube_action(state, cb, action, firing.bindings, ev))
            except TriggerfishError as exc:
                error = f"{action}: {exc.message}"
                out.append(error)
        if mail:  # sent by a runner thread after the commit; the run ends when it is sent
            _queue_run(state, cb, firing, ev, language="mail",
                       output="".join(f"{line}\n" for line in out))  # fmt: skip
            continue
        _record(state, cb, firing, ev, "failed" if error else "complete", "\n".join(out), error)


def _record(state: Any, cb: CallbackRT, firing: Firing, ev: Mapping[str, Any], status: str,
            output: str, error: str | None) -> None:  # fmt: skip
    """One run row and one ``fired`` event for a firing run in the engine."""
    reg: Registry = state.cbs
    reg.runs.append({
        "id": reg.next_run, "callback": cb.id, "job_id": cb.job_id,
        "event_seq": ev["seq"], "bindings": dict(firing.bindings) or None,
        "status": status, "started": state.now, "ended": state.now, "output": output,
        "error": error,
    })  # fmt: skip
    reg.next_run += 1
    state.counters_dirty = True
    state.meters.callback_ran(cb.language, status)
    state.emit("fired", "callback", job=cb.job_id,
               data={"callback": cb.id, "count": firing.count,
                     "bindings": dict(firing.bindings), "event": ev["seq"]})  # fmt: skip


def _queue_run(state: Any, cb: CallbackRT, firing: Firing, ev: Mapping[str, Any], *,
               language: str | None = None, output: str | None = None) -> None:  # fmt: skip
    """A firing of code that runs in a runner: a queued run, started after commit."""
    reg: Registry = state.cbs
    row = {
        "id": reg.next_run, "callback": cb.id, "job_id": cb.job_id, "event_seq": ev["seq"],
        "bindings": dict(firing.bindings) or None, "status": "queued", "started": None,
        "ended": None, "output": None, "error": None,
    }  # fmt: skip
    reg.next_run += 1
    state.counters_dirty = True
    reg.runs.append(row)
    spec = launch_spec(row, cb, ev)
    if language is not None:
        spec["language"] = language
    if output:
        spec["output"] = output
    reg.launch.append(spec)
    state.emit("fired", "callback", job=cb.job_id,
               data={"callback": cb.id, "count": firing.count, "run": row["id"],
                     "bindings": dict(firing.bindings), "event": ev["seq"]})  # fmt: skip


def launch_spec(run: Row, cb: CallbackRT | Row, ev: Mapping[str, Any]) -> Row:
    """What a runner needs to start a run: code (or the file of a universal callback),
    language, and the event's details."""
    get = (lambda k: getattr(cb, k)) if isinstance(cb, CallbackRT) else cb.__getitem__
    qube = get("language") == "qube"  # queued for its mail-status action: no code to run
    universal = get("source") == "universal" and not qube
    return {
        "run": run["id"], "callback": get("id"), "job": get("job_id"),
        "language": get("language"), "code": "" if universal or qube else get("code"),
        "file": get("code") if universal else None, "bindings": run["bindings"] or {},
        "user": get("user"),
        "event": {k: ev.get(k) for k in ("seq", "name", "type", "job", "subid", "work", "host")},
    }  # fmt: skip


def relaunch_spec(row: Row) -> Row:
    """The launch spec of a run found queued or running at start (stored row + its event)."""
    ev = {"seq": row["event_seq"], "name": row.get("ev_name"), "type": row.get("ev_type"),
          "job": row.get("ev_job"), "subid": row.get("ev_subid"), "work": row.get("ev_work"),
          "host": row.get("ev_host")}  # fmt: skip
    qube = row["language"] == "qube"  # a qube callback's run is queued only for mail-status
    universal = row.get("source") == "universal" and not qube
    return {
        "run": row["id"], "callback": row["callback"], "job": row["job_id"],
        "language": "mail" if qube else row["language"],
        "code": "" if universal or qube else row["code"],
        "file": row["code"] if universal else None,
        "bindings": row["bindings"] or {}, "user": row["user"], "event": ev,
    }  # fmt: skip


def finish_run(state: Any, run_id: int, status: str, output: str, error: str | None,
               started: float, ended: float) -> None:  # fmt: skip
    """A runner reports a run's end (a command, like any other)."""
    state.cbs.run_updates.append({"id": run_id, "status": status, "started": started,
                                  "ended": ended, "output": output, "error": error})  # fmt: skip
    state.emit("ran", "callback", data={"run": run_id, "status": status})


def _qube_action(
    state: Any, cb: CallbackRT, action: str, bindings: Mapping[str, str], ev: Mapping[str, Any]
) -> str:
    from triggerfish.engine import control, verbs

    if cb.job_id is None:
        raise TriggerfishError("a global callback has no job to act on")
    job = state.job(cb.job_id)
    value = next(iter(bindings.values()), None)
    if action in NOTE_ACTIONS:
        what = f"{ev.get('type')} {ev.get('job')}" + (f":{ev['work']}" if ev.get("work") else "")
        note = f"upstream {what} {ev.get('name')}"
        if note not in job.reason and len(job.reason) < 500:
            job.reason = f"{job.reason}; {note}".lstrip("; ")
        state.touch_job(job)
        return f"job {job.id}: {job.reason}"
    if action in JOB_ACTIONS:
        verb = action.removesuffix("-self")
        return control.callback_job_action(state, job, verb)
    if action in VERB_ACTIONS:
        return verbs.callback_action(state, job, None, action.removesuffix("-self"))
    if action in SUBJOB_ACTIONS or action in SUBJOB_VERB_ACTIONS:
        raw = value if value is not None else ev.get("subid")
        if raw is None or not str(raw).isdigit() or int(raw) not in job.subs:
            raise NotFound(f"job {job.id} has no instance {raw!r}")
        verb = action.removesuffix("-subjob-self")
        if action in SUBJOB_VERB_ACTIONS:
            return verbs.callback_action(state, job, job.subs[int(raw)], verb)
        return control.callback_sub_action(state, job, job.subs[int(raw)], verb)
    name = value if value is not None else ev.get("work")
    w = job.work.get(name) if name is not None else None
    if w is None:
        raise NotFound(f"job {job.id} has no work item {name!r}")
    verb = action.removesuffix("-work-self")
    return control.callback_work_action(state, job, w, verb)


# ---------------------------------------------------------------- global callbacks


def add_global(state: Any, spec: CallbackSpec, user: str) -> CallbackRT:
    """A site-wide callback (no job): watches job ids and hosts, runs python, perl or exec."""
    if spec.language in ("qube", "mail"):
        raise ValidationError(
            f"language: {spec.language} callbacks act on the callback's own job; a global "
            "callback has none (use python, perl or exec)",
            field="language",
        )
    return register(state, spec=spec, source="global", job_id=None, pgrp=None, parent=None,
                    labels={}, user=user)  # fmt: skip


def remove_global(state: Any, callback_id: int) -> None:
    reg: Registry = state.cbs
    cb = reg.callbacks.get(callback_id)
    if cb is None or cb.job_id is not None:
        raise NotFound(f"there is no global callback {callback_id}", field="callback")
    _forget(state, callback_id)
    state.emit("removed", "callback", data={"callback": callback_id})
