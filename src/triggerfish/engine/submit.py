"""Submission: a list of validated jobs becomes one pgrp (or joins one), all or nothing."""

from __future__ import annotations

from triggerfish.api import schemas as s
from triggerfish.engine.objects import JobRT, SubRT, WorkRT
from triggerfish.engine.state import State
from triggerfish.errors import NotFound, ValidationError
from triggerfish.model.jobspec import NormalizedJob

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


def submit(state: State, jobs: list[NormalizedJob], user: str) -> s.SubmitResponse:
    first = state.next_job_id
    ids = list(range(first, first + len(jobs)))
    pgrps = [j.spec.pgrp if j.spec.pgrp is not None else first for j in jobs]
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
    out = []
    state.next_job_id = first + len(jobs)
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
    return s.SubmitResponse(jobs=out)


def _create(
    state: State, nj: NormalizedJob, job_id: int, pgrp: int, label: str, user: str
) -> JobRT:
    spec = nj.spec
    fields = spec.model_dump(exclude=set(COLUMN_FIELDS))
    name = spec.name or (str(spec.package.get("cmdline", "")).split() or ["job"])[0][:64]
    job = JobRT(
        id=job_id, pgrp=pgrp, pid=spec.pid, label=label, name=name, user=spec.user or user,
        priority=spec.priority, status="pending", prototype=nj.prototype, cpus=spec.cpus,
        step=nj.step, reason="", package=dict(spec.package), fields=fields,
        timesubmit=state.now, lastupdate=state.now,
    )  # fmt: skip
    for seq, (wname, wstatus) in enumerate(nj.agenda):
        job.work[wname] = WorkRT(job_id, wname, seq, wstatus)
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
    if spec.status == "blocked":
        state.set_job(job, "blocked")
    else:
        job.status = "pending"
        state.derive(job)
        if job.status == "pending":
            state.emit("pending", "job", job=job_id)
    state.update_runnable(job)
    return job
