"""Permission checks that need the engine's state (whose job is it?), run in the engine
thread before the command they guard, so a refused request changes nothing."""

from __future__ import annotations

from typing import Any

from triggerfish.api import schemas as s
from triggerfish.auth.permissions import SUBMIT, SUBMIT_GLOBAL_CALLBACK, Principal
from triggerfish.engine import callbacks as cbx
from triggerfish.engine import control as ctl
from triggerfish.errors import Forbidden, TriggerfishError


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


def control(state: Any, req: s.ControlRequest, who: Principal) -> s.ControlResponse:
    check_targets(state, who, req.action, req.targets)
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
