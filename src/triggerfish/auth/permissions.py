"""Permissions and the principal a request acts as (pure: no I/O).

Qube!'s permissions: ``submit`` (submit jobs; control one's own), ``submit_callback`` (job
callbacks carrying code: python, perl, exec), ``submit_global_callback`` (site-wide
callbacks), ``admin`` (everything, other users' jobs included). ``worker`` is what a worker
token carries: the worker routes and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from triggerfish.errors import Forbidden, ValidationError

SUBMIT = "submit"
SUBMIT_CALLBACK = "submit_callback"
SUBMIT_GLOBAL_CALLBACK = "submit_global_callback"
ADMIN = "admin"
WORKER = "worker"

USER_PERMISSIONS = (SUBMIT, SUBMIT_CALLBACK, SUBMIT_GLOBAL_CALLBACK, ADMIN)
CODE_LANGUAGES = frozenset({"python", "perl", "exec"})  # callbacks that run code

KIND_USER = "user"
KIND_WORKER = "worker"
KIND_LOCAL = "local"  # the supervisor's own admin token (a file in its data dir)
KIND_RUN = "run"  # a callback run's short-lived token, with its owner's rights
KIND_JOB = "job"  # a job's token, given to its commands and tasks, with its owner's rights


def check_permissions(perms: Iterable[str]) -> tuple[str, ...]:
    """Known user permissions, sorted and unique; an unknown one is a ValidationError."""
    out = set()
    for p in perms:
        if p not in USER_PERMISSIONS:
            raise ValidationError(
                f"permissions: unknown permission {p!r} (known: {', '.join(USER_PERMISSIONS)})",
                field="permissions",
            )
        out.add(p)
    return tuple(sorted(out))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a user, a worker, the local admin or a callback run."""

    name: str
    permissions: frozenset[str]
    kind: str = KIND_USER

    @property
    def admin(self) -> bool:
        return ADMIN in self.permissions

    def may(self, permission: str) -> bool:
        """``admin`` implies every permission."""
        return self.admin or permission in self.permissions

    def require(self, permission: str, doing: str) -> None:
        if not self.may(permission):
            raise Forbidden(
                f"{doing} needs the permission {permission!r}, which {self.describe()} lacks",
                field="token",
            )

    def may_act_on(self, owner: str) -> bool:
        """Control verbs: one's own jobs with ``submit``, anybody's as admin."""
        return self.admin or (owner == self.name and SUBMIT in self.permissions)

    def describe(self) -> str:
        what = {KIND_WORKER: "worker token", KIND_RUN: "the callback run of user",
                KIND_JOB: "a job of user",
                KIND_LOCAL: "local admin"}.get(self.kind, "user")  # fmt: skip
        return f"{what} {self.name!r}"


def code_languages(languages: Iterable[str]) -> list[str]:
    """The languages among ``languages`` that run code (need ``submit_callback``)."""
    return sorted({lang for lang in languages if lang in CODE_LANGUAGES})
