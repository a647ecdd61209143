"""Submission: a list of validated jobs becomes one pgrp (or joins one), all or nothing."""

from __future__ import annotations

from collections.abc import Sequence

from triggerfish.api import schemas as s
from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.engine import callbacks as cbx
from triggerfish.engine.objects import JobRT, SubRT, WorkRT
from triggerfish.engine.state import State
from triggerfish.engine.stuck import job_status
from triggerfish.errors import NotFound, TriggerfishError, ValidationError
from triggerfish.model.jobspec import QUBE_EXTRA, NormalizedJob, is_jobtype
from triggerfish.model.reservations import parse as parse_reservations
from triggerfish.triggers import Compiled, compile_expr, parse
from triggerfish.triggers.ast import Atom

COLUMN_FIELDS = frozenset(
    {"name", "label", "pgrp", "pid", "user", "priority", "status", "prototype", "package",
     "agenda", "cpus"}
)  # fmt: skip


def _labels(state: State, pgrp: int, first_id: int) -> set[str]:
    if pgrp == first_id:  # the pgrp this very call creates
        return set(state.labels_added.get(pgrp, set()))
    known = state.store.pgrp_labels(pgrp)
    added = state.labels_added.get(pgrp)
    if known is None and added is None:
        raise NotFound(f"pgrp {pgrp} does not exist", field="pgrp")
    return (known or set()) | (added or set())


def submit(
    state: State,
    jobs: list[NormalizedJob],
    user: str,
    universal: Sequence[CallbackSpec] | None = None,
    first: int | None = None,
) -> s.SubmitResponse:
    """Create the jobs, their callbacks and ``universal`` (attached to every job; None: the
    universal callbacks as the supervisor last read them, ``state.universal_specs``).

    ``first``: the id of the first job, answered already (a task an older triggerfish left in
    its intake journal: ``server.oldintake``); None: taken here."""
    if first is not None:
        return _submit(state, jobs, user, universal, first)
    first = state.ids.take(len(jobs))
    try:
        return _submit(state, jobs, user, universal, first)
    except TriggerfishError:  # refused (before any change): its ids are not used
        state.ids.give_back(first, len(jobs))
        raise


def _submit(
    state: State,
    jobs: list[NormalizedJob],
    user: str,
    universal: Sequence[CallbackSpec] | None,
    first: int,
) -> s.SubmitResponse:
    if universal is None:
        universal = state.universal_specs()
    ids = list(range(first, first + len(jobs)))
    pgrps = [j.spec.pgrp if j.spec.pgrp is not None else first for j in jobs]
    labels = _labels_of(state, jobs, ids, pgrps, first)
    label_ids = _label_ids(state, ids, pgrps, labels, first)
    compiled = _check_callbacks(jobs, ids, label_ids, pgrps)
    _check_resources(state, jobs)
    _check_upstreams(state, jobs, ids, compiled)
    warnings: list[str] = [w for nj in jobs for w in nj.warnings]
    extra = _universal(jobs, ids, label_ids, pgrps, universal, warnings)
    out = []
    first_event = len(state.ch.events)
    state.counters_dirty = True
    for i, nj in enumerate(jobs):
        created = _create(state, nj, ids[i], pgrps[i], labels[i], user)
        state.labels_added.setdefault(pgrps[i], set()).add(labels[i])
        out.append(
            s.SubmittedJob(
                id=created.id,
                label=created.label,
                pgrp=created.pgrp,
                status=created.status,
                name=created.name,
            )
        )
    joined: dict[int, dict[int, tuple[int, ...]]] = {}  # job id -> the atoms now naming it
    for i in range(len(jobs)):
        resolved = cbx.label_joined(state, pgrps[i], labels[i], ids[i])
        if resolved:
            joined[ids[i]] = resolved
    added = _register(state, jobs, ids, pgrps, label_ids, compiled, extra, warnings)
    # The submission's own events (submit, pending or blocked) happened before its callbacks
    # existed: they see them now, and only they (the others saw them when they happened).
    # Callbacks that waited for a label of this submission see that job's events too, on the
    # atoms that name it only (their other atoms saw the events when they happened).
    for ev in state.ch.events[first_event:]:
        cbx.on_event(state, ev, only=added)
        if ev["job"] in joined:
            cbx.on_event(state, ev, atoms=joined[ev["job"]])
    return s.SubmitResponse(jobs=out, warnings=warnings)


def _labels_of(
    state: State, jobs: list[NormalizedJob], ids: list[int], pgrps: list[int], first: int
) -> list[str]:
    """The label of each job: its own, checked unique in its pgrp, or ``job<ID>`` (``_2``…
    when that is taken)."""
    # Check every label before changing anything: a rejected call stores nothing.
    taken: dict[int, set[str]] = {}
    labels: list[str] = []
    for i, (job, pgrp) in enumerate(zip(jobs, pgrps, strict=True)):
        if pgrp not in taken:
            try:
                taken[pgrp] = _labels(state, pgrp, first)
            except NotFound as exc:
                raise ValidationError(
                    f"jobs[{i}].pgrp: {exc.message}", field=f"jobs[{i}].pgrp"
                ) from None
        label = job.spec.label
        if label is not None:
            if label in taken[pgrp]:
                raise ValidationError(
                    f"jobs[{i}].label: {label!r} is already used in pgrp {pgrp}",
                    field=f"jobs[{i}].label",
                )
            taken[pgrp].add(label)
        labels.append(label or "")
    for i, pgrp in enumerate(pgrps):
        if not labels[i]:
            base = f"job{ids[i]}"
            label, n = base, 1
            while label in taken[pgrp]:
                n += 1
                label = f"{base}_{n}"
            taken[pgrp].add(label)
            labels[i] = label
    return labels


def _register(
    state: State, jobs: list[NormalizedJob], ids: list[int], pgrps: list[int],
    label_ids: dict[int, dict[str, int]], compiled: dict[tuple[int, int], Compiled],
    extra: list[list[tuple[str, CallbackSpec, Compiled]]], warnings: list[str],
) -> set[int]:  # fmt: skip
    """Register each job's callbacks and the universal ones (``extra``); a warning for each
    label a callback waits for; the ids of the callbacks added."""
    added: set[int] = set()
    for i, nj in enumerate(jobs):
        own = [(src, spec, compiled[(i, j)]) for j, (src, spec) in enumerate(nj.callbacks)]
        for j, (source, spec, comp) in enumerate([*own, *extra[i]]):
            cb = cbx.register(
                state, spec=spec, source=source, job_id=ids[i], pgrp=pgrps[i],
                parent=nj.spec.pid, labels=label_ids[pgrps[i]], user=state.jobs[ids[i]].user,
                compiled=comp,
            )  # fmt: skip
            added.add(cb.id)
            if source == "universal":
                continue
            where = f"jobs[{i}].callbacks[{j}]" if source == "job" else f"jobs[{i}].dependency"
            for label in sorted(cb.compiled.waiting_labels):
                hint = cbx.closest(label, label_ids[pgrps[i]])
                warnings.append(
                    f"{where}: no job of pgrp {pgrps[i]} has the label {label!r} (yet)"
                    + (f"; did you mean {hint!r}?" if hint else "")
                )
    return added


def _universal(
    jobs: list[NormalizedJob], ids: list[int], label_ids: dict[int, dict[str, int]],
    pgrps: list[int], universal: Sequence[CallbackSpec], warnings: list[str],
) -> list[list[tuple[str, CallbackSpec, Compiled]]]:  # fmt: skip
    """The universal callbacks of each job, compiled; one that does not fit a job is left out
    of it with a warning (the site's conf must not make a submission fail)."""
    out: list[list[tuple[str, CallbackSpec, Compiled]]] = []
    for i, nj in enumerate(jobs):
        mine: list[tuple[str, CallbackSpec, Compiled]] = []
        for spec in universal:
            try:
                c = compile_expr(parse(spec.triggers), job_id=ids[i], parent=nj.spec.pid,
                                 labels=label_ids[pgrps[i]])  # fmt: skip
            except TriggerfishError as exc:
                warnings.append(f"jobs[{i}]: universal callback {spec.code} not attached: "
                                f"{exc.message}")  # fmt: skip
                continue
            mine.append(("universal", spec, c))
        out.append(mine)
    return out


def _label_ids(
    state: State, ids: list[int], pgrps: list[int], labels: list[str], first: int
) -> dict[int, dict[str, int]]:
    """label -> job id for every pgrp of the call, its new jobs included."""
    out: dict[int, dict[str, int]] = {}
    for i, pgrp in enumerate(pgrps):
        if pgrp not in out:
            out[pgrp] = {} if pgrp == first else state.store.pgrp_label_ids(pgrp)
        out[pgrp][labels[i]] = ids[i]
    return out


def _check_callbacks(
    jobs: list[NormalizedJob], ids: list[int], label_ids: dict[int, dict[str, int]],
    pgrps: list[int],
) -> dict[tuple[int, int], Compiled]:  # fmt: skip
    """Compile every callback before anything is created: a bad one rejects the call."""
    out: dict[tuple[int, int], Compiled] = {}
    for i, nj in enumerate(jobs):
        for j, (source, spec) in enumerate(nj.callbacks):
            try:
                out[(i, j)] = compile_expr(
                    parse(spec.triggers),
                    job_id=ids[i],
                    parent=nj.spec.pid,
                    labels=label_ids[pgrps[i]],
                )
            except TriggerfishError as exc:
                where = (
                    f"jobs[{i}].callbacks[{j}].triggers"
                    if source == "job"
                    else f"jobs[{i}].dependency"
                )
                raise ValidationError(f"{where}: {exc.message}", field=where) from None
    return out


def _check_resources(state: State, jobs: list[NormalizedJob]) -> None:
    """Every global resource a job reserves is defined on the supervisor (a typo would leave
    it pending for ever)."""
    for i, nj in enumerate(jobs):
        text = nj.spec.reservations
        if not text:
            continue
        for name, _ in parse_reservations(text).globals:
            if name not in state.resources:
                known = ", ".join(sorted(state.resources)) or "none"
                raise ValidationError(
                    f"jobs[{i}].reservations: global resource {name!r} is not defined on the "
                    f"supervisor (defined: {known}; 'triggerfish resources set {name} N')",
                    field=f"jobs[{i}].reservations",
                )


def _check_upstreams(
    state: State, jobs: list[NormalizedJob], ids: list[int],
    compiled: dict[tuple[int, int], Compiled],
) -> None:  # fmt: skip
    """A ``dependency`` naming a job id that does not exist is refused (the job could never
    start). A label no job of the pgrp has yet is not: a job may join with it (a warning)."""
    new = set(ids)
    for (i, j), comp in compiled.items():
        if jobs[i].callbacks[j][0] != "dependency":
            continue
        for atom, key in zip(comp.atoms, comp.keys, strict=True):
            upstream = None if key is None or not isinstance(atom, Atom) else key[2]
            if upstream is None or upstream in new or job_status(state, upstream) is not None:
                continue
            where = f"jobs[{i}].dependency"
            raise ValidationError(
                f"{where}: {atom} names job {upstream}, which does not exist", field=where
            )


def _create(
    state: State, nj: NormalizedJob, job_id: int, pgrp: int, label: str, user: str
) -> JobRT:
    spec = nj.spec
    unset = {k for k in QUBE_EXTRA if getattr(spec, k) is None}  # (stored only when given)
    fields = spec.model_dump(exclude=set(COLUMN_FIELDS) | unset)
    unnamed = nj.prototype if is_jobtype(nj.prototype) else "job"  # (a job type: its name)
    name = spec.name or (str(spec.package.get("cmdline", "")).split() or [unnamed])[0][:64]
    job = JobRT(
        id=job_id, pgrp=pgrp, pid=spec.pid, label=label, name=name, user=spec.user or user,
        priority=spec.priority, status="pending", prototype=nj.prototype, cpus=spec.cpus,
        step=nj.step, reason="", package=dict(spec.package), fields=fields,
        timesubmit=state.now, lastupdate=state.now,
    )  # fmt: skip
    for seq, (wname, wstatus) in enumerate(nj.agenda):
        job.work[wname] = WorkRT(job_id, wname, seq, wstatus)
    if nj.packages:  # (only the items that have their own: JobRT.packages)
        job.packages = dict(nj.packages)
    for subid in range(spec.cpus):
        job.subs[subid] = SubRT(job_id, subid)
    job.recount()
    state.jobs[job_id] = job
    state.new_jobs.add(job_id)
    state.emit(
        "submit",
        "job",
        job=job_id,
        data={"pgrp": pgrp, "label": label, "name": name, "user": job.user, "todo": len(job.work)},
    )
    if spec.status == "blocked" or nj.blocked_by_dependency:
        state.set_job(job, "blocked")
        if nj.reason:
            job.reason = nj.reason
    else:
        job.status = "pending"
        state.derive(job)
        if job.status == "pending":
            state.emit("pending", "job", job=job_id)
    state.update_runnable(job)
    return job


def submit_each(state: State, jobs: list[NormalizedJob], user: str) -> list[s.SubmittedJob]:
    """Each job on its own (its own pgrp, as if submitted alone), all in one commit.

    All or nothing: a job refused here after others were created fails the whole command,
    and the engine throws the batch's changes away.
    """
    out: list[s.SubmittedJob] = []
    for nj in jobs:
        out.extend(submit(state, [nj], user).jobs)
    return out
