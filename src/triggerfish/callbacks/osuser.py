"""``--callback-user``: the OS user callback code runs as, and dropping to it in the child.

The supervisor resolves the user once, at start (an unknown user, or a supervisor that is not
root and so cannot switch to another user, is refused there). A callback's child process
calls :func:`drop` before it runs any of the callback's code: supplementary groups from the
group database (initgroups), then the group, then the user — after which it cannot get back.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

from triggerfish.errors import TriggerfishError


@dataclass(frozen=True)
class CallbackUser:
    name: str
    uid: int
    gid: int
    home: str


def resolve(name: str) -> CallbackUser:
    """The OS user ``name`` (or a numeric uid), checked for use by this process."""
    try:
        pw = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        raise TriggerfishError(
            f"--callback-user: there is no OS user {name!r}", field="callback_user"
        ) from None
    user = CallbackUser(pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir)
    if os.geteuid() not in (0, user.uid):
        raise TriggerfishError(
            f"--callback-user {name}: only a supervisor running as root can run callbacks as "
            "another user",
            field="callback_user",
        )
    return user


def drop(user: CallbackUser) -> None:
    """Become ``user`` for good (in a child process, before running callback code)."""
    if os.geteuid() == user.uid and os.getegid() == user.gid:
        return
    os.initgroups(user.name, user.gid)
    os.setgid(user.gid)
    os.setuid(user.uid)
    if os.getuid() != user.uid or os.geteuid() != user.uid:
        raise TriggerfishError(f"could not become OS user {user.name!r}")
