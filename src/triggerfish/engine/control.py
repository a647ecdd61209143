"""Control verbs on jobs (``12``), instances (``12.0``) and work items (``12:NAME``).

Every target of a request is checked before any is changed: a request with one bad target
changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic

from triggerfish.api import schemas as s
from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.engine import ahead, nextjobs, preempt
from triggerfish.engine import callbacks as cbx
from triggerfish.engine.callbacks import remove_job_callbacks
from triggerfish.engine.objects import JobRT, SubRT, WorkRT
from triggerfish.engine.state import State
from triggerfish.engine.workers import drop, failed_attempt
from triggerfish.errors import Conflict, NotFound, ValidationError
from triggerfish.model import lifecycle
from triggerfish.model.invalid import invalid
from triggerfish.model.jobspec import MAX_ID, PROD_FIELDS, JobSpec
from triggerfish.model.status import TERMINAL, Status
from triggerfish.model.when import parse_when, time_atom_text
from triggerfish.triggers import compile_expr, parse

_LIVE = lifecycle.LIVE  # work that holds an attempt on a host
_TARGET = re.compile(r"^\s*(\d+)\s*(?:([.:])(.*))?$")
MODIFIABLE = frozenset(
    {"name", "label", "priority", "cpus", "hosts", "omithosts", "groups", "omitgroups",
     "cluster", "retrywork", "retrywork_delay", "retrysubjob", "env", "cwd", "mailaddress",
     "notes", "data", "after", "requirements", "hostorder", "preemption",
     # Qube's tags and fields stored only (model.jobspec.QUBE_EXTRA), as Qube's modify takes
     "account", "kind", "restrictions", "max_cpus", *PROD_FIELDS}
)  # fmt: skip


@dataclass
class Target:
    text: str
    job: JobRT
    sub: SubRT | None = None
    work: WorkRT | None = None


def resolve(state: State, text: str) -> Target:
    m = _TARGET.match(text)
    if m is None:
        raise ValidationError(
            f"target {text!r}: expected JOB, JOB.SUBID or JOB:WORKNAME", field="targets"
        )
    job_id = int(m.group(1))
    if not 1 <= job_id <= MAX_ID:
        raise NotFound(f"target {text!r}: job {job_id} does not exist", field="targets")
    try:
        job = state.job(job_id)
    except NotFound:
        raise NotFound(f"target {text!r}: job {job_id} does not exist", field="targets") from None
    sep, rest = m.group(2), m.group(3)
    if sep == ".":
        if not rest or not rest.isdigit() or int(rest) not in job.subs:
            raise NotFound(
                f"target {text!r}: job {job_id} has no instance {rest!r}", field="targets"
            )
        return Target(text, job, sub=job.subs[int(rest)])
    if sep == ":":
        w = job.work.get(rest or "")
        if w is None:
            raise NotFound(
                f"target {text!r}: job {job_id} has no work item {rest!r}", field="targets"
            )
        return Target(text, job, work=w)
    return Target(text, job)


def _stop(state: State, job: JobRT, token: str | None) -> None:
    if token and token in state.attempts:
        drop(state, state.attempts[token])


# ---------------------------------------------------------------- checks (no changes)


def _check(action: str, t: Target) -> str | None:
    """Why ``action`` makes no sense for ``t`` now, or None when it does (the rules:
    ``model.lifecycle.control_refusal``)."""
    if t.work is not None:
        return lifecycle.control_refusal(action, "work", t.work.status)
    if t.sub is not None:
        return lifecycle.control_refusal(action, "instance", t.sub.status, agenda=bool(t.job.work))
    units = t.job.work.values() if t.job.work else t.job.subs.values()
    ended = any(u.status in lifecycle.FAILED_OR_KILLED for u in units)
    return lifecycle.control_refusal(action, "job", t.job.status, ended_units=ended)


# ---------------------------------------------------------------- job verbs


def _job_kill(state: State, job: JobRT, _f: dict[str, Any]) -> str:
    for w in job.work.values():
        if w.status in _LIVE:
            _stop(state, job, w.token)
            state.set_work(job, w, Status.KILLED)
        elif w.status not in TERMINAL:
            state.set_work(job, w, Status.KILLED, quiet=True)
    for sub in job.subs.values():
        if sub.status not in TERMINAL:
            _stop(state, job, sub.token)
            sub.work = None
            state.set_sub(job, sub, Status.KILLED, quiet=bool(job.work))
    state.set_job(job, Status.KILLED)
    return job.status


def _interrupt(state: State, job: JobRT) -> None:
    """Running work of ``job`` goes back to pending; its attempts are cancelled."""
    for w in job.work.values():
        if w.status in _LIVE:
            _stop(state, job, w.token)
            w.token = None
            state.set_work(job, w, Status.PENDING, data={"reason": "interrupted"})
    for sub in job.subs.values():
        if sub.status in _LIVE:
            _stop(state, job, sub.token)
            sub.token = None
            sub.work = None
            state.set_sub(job, sub, Status.PENDING, quiet=bool(job.work))


def _job_block(state: State, job: JobRT, _f: dict[str, Any]) -> str:
    _interrupt(state, job)
    state.set_job(job, Status.BLOCKED)
    return job.status


def _release(state: State, job: JobRT) -> None:
    """Lift an explicit hold or an end: the job's status follows its work again."""
    job.status = Status.PENDING
    job.timecomplete = None
    state.finished.discard(job.id)
    state.touch_job(job)
    for sub in job.subs.values():
        if sub.status in TERMINAL and (job.work or sub.status != Status.COMPLETE):
            state.set_sub(job, sub, Status.PENDING, quiet=bool(job.work))
    state.derive(job)
    if job.status == Status.PENDING:
        state.emit("pending", "job", job=job.id)


def _job_unblock(state: State, job: JobRT, _f: dict[str, Any]) -> str:
    _release(state, job)
    return job.status


def _job_retry(state: State, job: JobRT, _f: dict[str, Any]) -> str:
    for w in job.work.values():
        new = lifecycle.job_verb_unit("retry", job.status, w.status)
        if new is not None:
            state.set_work(job, w, new)
    for sub in job.subs.values():
        new = lifecycle.job_verb_unit("retry", job.status, sub.status)
        if new is not None:
            state.set_sub(job, sub, new, quiet=bool(job.work))
    if job.status in TERMINAL:
        _release(state, job)
    else:
        state.derive(job)
    return job.status


def _job_requeue(state: State, job: JobRT, _f: dict[str, Any]) -> str:
    """Qube's requeue: ended work goes back on the queue, and the job is held (blocked)."""
    for w in job.work.values():
        new = lifecycle.job_verb_unit("requeue", job.status, w.status)
        if new is not None:
            state.set_work(job, w, new)
    for sub in job.subs.values():
        new = lifecycle.job_verb_unit("requeue", job.status, sub.status)
        if new is not None:
            state.set_sub(job, sub, new, quiet=bool(job.work))
    job.timecomplete = None
    state.finished.discard(job.id)
    state.set_job(job, lifecycle.JOB_VERB_STATUS["requeue"])
    return job.status


def _job_remove(state: State, job: JobRT, _f: dict[str, Any]) -> str:
    ahead.drop_job(state, job)
    nextjobs.drop_job(state, job)
    for w in job.work.values():
        if w.status == Status.RUNNING:
            _stop(state, job, w.token)
    for sub in job.subs.values():
        _stop(state, job, sub.token)
    state.jobs.pop(job.id, None)
    state.runnable.discard(job.id)
    state.reorder()
    state.removed.append(job.id)
    labels = state.labels_added.get(job.pgrp)
    if labels is not None:
        labels.discard(job.label)
    remove_job_callbacks(state, job.id)
    state.emit("removed", "job", job=job.id, data={"label": job.label, "pgrp": job.pgrp})
    return "removed"


def _job_modify(state: State, job: JobRT, fields: dict[str, Any]) -> str:
    changes = _validated_changes(state, job, fields)
    nextjobs.drop_job(state, job)  # held for a host as it was: placement may change
    if "after" in changes:
        changes["after"] = _move_hold(state, job, changes["after"])
    for key, value in changes.items():
        if key in ("name", "label", "priority"):
            setattr(job, key, value)
        elif key == "cpus":
            _set_cpus(state, job, value)
        else:
            job.fields[key] = value
    if "label" in changes:
        state.labels_added.setdefault(job.pgrp, set()).add(job.label)
    job.fields = dict(job.fields)
    state.unlicensed.discard(job.id)  # (its reservations may have changed)
    state.reorder()
    state.touch_job(job)
    state.respec.add(job.id)  # its whole row is written, not only what changes as it runs
    state.work_available = True
    state.emit("modified", "job", job=job.id, data={"fields": sorted(changes)})
    state.update_runnable(job)
    return job.status


def _validated_changes(state: State, job: JobRT, fields: dict[str, Any]) -> dict[str, Any]:
    if not fields:
        raise ValidationError("fields: nothing to modify", field="fields")
    for key in fields:
        if key not in MODIFIABLE:
            raise ValidationError(f"fields.{key}: cannot be modified", field=f"fields.{key}")
    current = {k: v for k, v in job.fields.items() if k in MODIFIABLE}
    current.update(name=job.name, label=job.label, priority=job.priority, cpus=job.cpus)
    try:
        spec = JobSpec.model_validate({**current, **fields})
    except pydantic.ValidationError as exc:
        raise invalid(exc, "fields") from None
    out = {k: getattr(spec, k) for k in fields}
    if "label" in out and out["label"] != job.label:
        known = state.store.pgrp_labels(job.pgrp) or set()
        if out["label"] in known | state.labels_added.get(job.pgrp, set()):
            raise ValidationError(
                f"fields.label: {out['label']!r} is already used in pgrp {job.pgrp}",
                field="fields.label",
            )
    return out


def _move_hold(state: State, job: JobRT, value: str | int | None) -> str:
    """Move the time a held job waits for (its ``after``): the callback that releases it gets
    the new time atom in place of the old one. Returns the new ``after`` text."""
    old = job.fields.get("after")
    atom = f"dummy-time-self-{old}"
    holder = next(
        (cb for cb in state.cbs.callbacks.values()
         if cb.job_id == job.id and cb.source == "dependency" and cb.code == "unblock-self"
         and atom in cb.triggers.split()),
        None,
    )  # fmt: skip
    if job.status != Status.BLOCKED or old is None or holder is None:
        raise Conflict(
            f"fields.after: job {job.id} is not held until a time (status {job.status}); "
            "only the hold set by `after` at submission can be moved",
            field="fields.after",
        )
    if value is None:
        raise ValidationError(
            "fields.after: give the new time; to release the job now, unblock it",
            field="fields.after",
        )
    try:
        moment = parse_when(value, state.now)
    except ValueError as exc:
        raise ValidationError(f"fields.after: {exc}", field="fields.after") from None
    text = time_atom_text(moment)
    triggers = " ".join(
        f"dummy-time-self-{text}" if part == atom else part for part in holder.triggers.split()
    )
    labels = state.store.pgrp_label_ids(job.pgrp) if job.pgrp else {}
    labels.update({j.label: j.id for j in state.jobs.values() if j.pgrp == job.pgrp})
    spec = CallbackSpec(triggers=triggers, language=holder.language, code=holder.code,
                        maximum=holder.latches.maximum, catchup=holder.catchup)  # fmt: skip
    # the new callback is compiled before the old one goes: a failure changes nothing
    compiled = compile_expr(parse(triggers), job_id=job.id, parent=job.pid, labels=labels)
    cbx.remove_callback(state, holder.id)
    cbx.register(state, spec=spec, source=holder.source, job_id=job.id, pgrp=job.pgrp,
                 parent=job.pid, labels=labels, user=holder.user, compiled=compiled)  # fmt: skip
    job.reason = job.reason.replace(f"held until {old}", f"held until {text}")
    return text


def _set_cpus(state: State, job: JobRT, cpus: int) -> None:
    old = job.cpus
    job.cpus = cpus
    state.unbusy(job)  # (instances beyond the old count may be idle now)
    for subid in range(old, cpus):
        if subid not in job.subs:
            # a finished job's new instances are finished too, until the job is retried
            sub = SubRT(
                job.id, subid, Status.COMPLETE if job.status in TERMINAL else Status.PENDING
            )
            job.subs[subid] = sub
            if not job.work:
                job.tally[sub.status] += 1
            state.new_subs[(job.id, subid)] = sub
    for subid in [i for i in job.subs if i >= cpus]:
        sub = job.subs[subid]
        if sub.status != Status.RUNNING:
            if not job.work:
                job.tally[sub.status] -= 1
            del job.subs[subid]
            if state.new_subs.pop((job.id, subid), None) is None:
                state.dirty_subs.pop((job.id, subid), None)
                state.ch.sub_deletes.append((job.id, subid))


def _job_preempt(state: State, job: JobRT, _f: dict[str, Any]) -> str:
    preempt.preempt_job(state, job)
    return job.status


JOB_VERBS: dict[str, Callable[[State, JobRT, dict[str, Any]], str]] = {
    "kill": _job_kill, "block": _job_block, "unblock": _job_unblock, "retry": _job_retry,
    "requeue": _job_requeue, "remove": _job_remove, "modify": _job_modify,
    "preempt": _job_preempt,
}  # fmt: skip


# ---------------------------------------------------------------- instance and work verbs


def _sub_verb(state: State, action: str, job: JobRT, sub: SubRT) -> str:
    if action == "preempt":
        token = sub.token if sub.work is None else job.work[sub.work].token
        return _preempt_token(state, token, sub.status)
    if action in ("kill", "block"):
        item = job.work.get(sub.work) if sub.work else None
        if item is not None and item.status in _LIVE:
            _stop(state, job, item.token)
            item.token = None
            state.set_work(job, item, Status.PENDING, data={"reason": f"instance {action}ed"})
        _stop(state, job, sub.token)
        sub.work = None
        sub.token = None
        state.set_sub(job, sub, Status.KILLED if action == "kill" else Status.BLOCKED)
    elif action in ("unblock", "retry"):
        state.set_sub(job, sub, Status.PENDING)
        if job.status in TERMINAL and not job.work:
            _release(state, job)
    elif action == "requeue":
        state.set_sub(job, sub, Status.BLOCKED)
        if job.status in TERMINAL:
            _release(state, job)
    state.derive(job)
    return sub.status


def _preempt_token(state: State, token: str | None, status: str) -> str:
    """Take the running attempt ``token`` back (engine.preempt): pending, no attempt counted."""
    a = state.attempts.get(token) if token is not None else None
    if a is not None:
        preempt.take_back(state, a, {"mode": "verb"})
        return Status.PENDING
    return status


_WORK_EVENT = {
    "kill": lifecycle.Event.KILL, "block": lifecycle.Event.BLOCK,
    "unblock": lifecycle.Event.UNBLOCK, "retry": lifecycle.Event.RETRY,
    "requeue": lifecycle.Event.REQUEUE,
}  # fmt: skip


def _work_verb(state: State, action: str, job: JobRT, w: WorkRT) -> str:
    if action == "preempt":
        return _preempt_token(state, w.token, w.status)
    if action in ("kill", "block") and w.status in _LIVE:
        _stop(state, job, w.token)
        sub = job.subs.get(w.subid) if w.subid is not None else None
        if sub is not None and sub.work == w.name:
            sub.work = None
            state.set_sub(job, sub, Status.PENDING, quiet=True)
        w.token = None
    new = lifecycle.unit_next(w.status, _WORK_EVENT[action])
    if new is None:  # (refused before: ``_check``)
        return w.status
    state.set_work(job, w, new)
    if new in (Status.PENDING, Status.BLOCKED) and job.status in TERMINAL:
        _release(state, job)
    else:
        state.derive(job)
    return w.status


def control(state: State, req: s.ControlRequest) -> s.ControlResponse:
    targets = [resolve(state, text) for text in req.targets]
    if req.action == "modify" and any(t.sub or t.work for t in targets):
        raise ValidationError("modify: only jobs can be modified", field="targets")
    for t in targets:
        why = _check(req.action, t)
        if why is not None:
            raise Conflict(f"cannot {req.action} {t.text}: {why}", field="targets")
    if req.action == "modify":
        if "label" in req.fields and len({t.job.id for t in targets}) > 1:
            raise ValidationError(
                "fields.label: a label is unique in its pgrp; modify one job at a time",
                field="fields.label",
            )
        for t in targets:
            _validated_changes(state, t.job, req.fields)
    results = []
    for t in targets:
        if t.work is not None:
            status = _work_verb(state, req.action, t.job, t.work)
        elif t.sub is not None:
            status = _sub_verb(state, req.action, t.job, t.sub)
        else:
            status = JOB_VERBS[req.action](state, t.job, req.fields)
        results.append(s.ControlResult(target=t.text, status=status))
    return s.ControlResponse(results=results)


# ---------------------------------------------------------------- verbs of qube callbacks


def callback_job_action(state: State, job: JobRT, verb: str) -> str:
    """A qube job action (``unblock-self`` …) on the callback's job; the outcome as text."""
    t = Target(str(job.id), job)
    if verb == "fail":
        if job.status in TERMINAL:
            return f"skipped: job {job.id} has already ended ({job.status})"
        for w in job.work.values():
            if w.status == Status.RUNNING:
                _stop(state, job, w.token)
                w.token = None
            if w.status not in TERMINAL:
                state.set_work(job, w, Status.FAILED)
        for sub in job.subs.values():
            if sub.status not in TERMINAL:
                _stop(state, job, sub.token)
                sub.token = None
                state.set_sub(job, sub, Status.FAILED, quiet=bool(job.work))
        state.set_job(job, Status.FAILED)
        return f"job {job.id} failed"
    why = _check(verb, t)
    if why is not None:
        return f"skipped: {verb} job {job.id}: {why}"
    status = JOB_VERBS[verb](state, job, {})
    if verb == "unblock":
        job.reason = ""
    return f"{verb} job {job.id}: {status}"


def callback_sub_action(state: State, job: JobRT, sub: SubRT, verb: str) -> str:
    t = Target(f"{job.id}.{sub.subid}", job, sub=sub)
    if verb == "fail":
        return _sub_fail(state, job, sub, t.text)
    why = _check(verb, t)
    if why is not None:
        return f"skipped: {verb} {t.text}: {why}"
    return f"{verb} {t.text}: {_sub_verb(state, verb, job, sub)}"


def _sub_fail(state: State, job: JobRT, sub: SubRT, text: str) -> str:
    """``fail-subjob-self``: a job without agenda — the instance fails; with an agenda — the
    item it runs fails and the instance is freed for the next item."""
    if sub.status in TERMINAL:
        return f"skipped: fail {text}: it has already ended ({sub.status})"
    item = job.work.get(sub.work) if sub.work else None
    if item is not None and item.status == Status.RUNNING:
        _stop(state, job, item.token)
        item.token = None
        state.set_work(job, item, Status.FAILED, data={"reason": "instance failed"})
    _stop(state, job, sub.token)
    sub.work = None
    sub.token = None
    state.set_sub(job, sub, Status.PENDING if job.work else Status.FAILED, quiet=bool(job.work))
    state.derive(job)
    return f"fail {text}: {item.status if item is not None else sub.status}"


def callback_work_action(state: State, job: JobRT, w: WorkRT, verb: str) -> str:
    t = Target(f"{job.id}:{w.name}", job, work=w)
    if verb in ("complete", "fail"):
        new = Status.COMPLETE if verb == "complete" else Status.FAILED
        if w.status in TERMINAL:
            return f"skipped: {verb} {t.text}: it has already ended ({w.status})"
        running = w.status == Status.RUNNING
        if running:
            _stop(state, job, w.token)
            sub = job.subs.get(w.subid) if w.subid is not None else None
            if sub is not None and sub.work == w.name:
                sub.work = None
                state.set_sub(job, sub, Status.PENDING, quiet=True)
            w.token = None
        if running and verb == "fail":  # the attempt failed: retrywork applies, as to any
            failed_attempt(state, job, w, {"reason": "failed by a callback"})
        else:
            state.set_work(job, w, new)
        state.derive(job)
        return f"{verb} {t.text}: {w.status}"
    why = _check(verb, t)
    if why is not None:
        return f"skipped: {verb} {t.text}: {why}"
    return f"{verb} {t.text}: {_work_verb(state, verb, job, w)}"
