"""Permission checks that need the engine's state (whose job is it?), run in the engine
thread before the command they guard, so a refused request changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from triggerfish.api import schemas as s
from triggerfish.auth.permissions import SUBMIT, SUBMIT_GLOBAL_CALLBACK, Principal
from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.engine import callbacks as cbx
from triggerfish.engine import control as ctl
from triggerfish.engine import submit as sub
from triggerfish.engine import verbs
from triggerfish.errors import Forbidden, TriggerfishError
from triggerfish.model.jobspec import NormalizedJob


def check_targets(state: Any, who: Principal, action: str, targets: list[str]) -> None:
    """Every target's job is ``who``'s own, or ``who`` is admin."""
    if who.admin:
        return
    who.require(SUBMIT, f"{action}")
    for text in targets:
        try:
            job = ctl.resolve(state, text).job
        except TriggerfishError:
            continue  # the command itself names what is wrong with this target
        if not who.may_act_on(job.user):
            raise Forbidden(
                f"target {text!r}: {action} on job {job.id} of user {job.user!r} needs the "
                f"permission 'admin' ({who.describe()} may act on its own jobs only)",
                field="targets",
            )


def submit(
    state: Any,
    jobs: list[NormalizedJob],
    user: str,
    universal: Sequence[CallbackSpec],
    who: Principal,
) -> s.SubmitResponse:
    """Submit, after checking that a non-admin joins only pgrps whose jobs are all its own
    (a pgrp is a namespace of labels: a job joining it can satisfy its callbacks)."""
    if not who.admin:
        for i, nj in enumerate(jobs):
            pgrp = nj.spec.pgrp
            if pgrp is None:
                continue
            others = pgrp_users(state, pgrp) - {who.name}
            if others:
                names = ", ".join(repr(u) for u in sorted(others))
                raise Forbidden(
                    f"jobs[{i}].pgrp: pgrp {pgrp} holds jobs of {names}; joining it needs the "
                    f"permission 'admin' ({who.describe()} may join its own pgrps only)",
                    field=f"jobs[{i}].pgrp",
                )
    return sub.submit(state, jobs, user, universal)


def pgrp_users(state: Any, pgrp: int) -> set[str]:
    """The owners of the jobs of ``pgrp``: stored, and created in this batch."""
    users: set[str] = state.store.pgrp_users(pgrp)
    users.update(j.user for j in state.jobs.values() if j.pgrp == pgrp)
    return users


def control(state: Any, req: s.ControlRequest, who: Principal) -> s.ControlResponse:
    check_targets(state, who, req.action, req.targets)
    if req.action in verbs.ACTIONS:
        return verbs.control(state, req)
    return ctl.control(state, req)


def remove_global(state: Any, callback_id: int, who: Principal) -> None:
    who.require(SUBMIT_GLOBAL_CALLBACK, "removing a global callback")
    cb = state.cbs.callbacks.get(callback_id)
    if cb is not None and cb.job_id is None and not (who.admin or cb.user == who.name):
        raise Forbidden(
            f"global callback {callback_id} belongs to {cb.user!r}; removing it needs 'admin'",
            field="callback",
        )
    cbx.remove_global(state, callback_id)
