"""The ``qube`` callback language: built-in actions run inside the engine, no process started.

``code`` is one or more actions separated by spaces, commas or new lines, e.g.
``unblock-self`` or ``unblock-work-self``. ``*-work-self`` acts on the item the firing names:
the value bound to the pattern variable, else the item of the triggering event (and
``*-subjob-self`` on the instance it names). ``mail-status`` mails the status of the job (or of
that item) to the job's ``mailaddress``. The dispatch verbs (``suspend-self``,
``resume-self``, ``interrupt-self``, ``migrate-self``, ``preempt-self`` and their
``-subjob-self`` forms) are those of :mod:`triggerfish.engine.verbs`; ``preempt`` is Qube's:
running work goes back to pending after its current agenda item.
"""

from __future__ import annotations

import re

JOB_ACTIONS = frozenset(
    {"unblock-self", "block-self", "kill-self", "fail-self", "retry-self", "requeue-self"}
)
WORK_ACTIONS = frozenset(
    {"unblock-work-self", "block-work-self", "kill-work-self", "retry-work-self",
     "requeue-work-self", "complete-work-self", "fail-work-self"}
)  # fmt: skip
SUBJOB_ACTIONS = frozenset(
    {"unblock-subjob-self", "block-subjob-self", "kill-subjob-self", "retry-subjob-self",
     "requeue-subjob-self", "fail-subjob-self"}
)  # fmt: skip
# The dispatch verbs (engine.verbs, engine.preempt) on the job, or on the firing's instance.
VERBS = ("suspend", "resume", "interrupt", "migrate", "preempt")
VERB_ACTIONS = frozenset(f"{v}-self" for v in VERBS)
SUBJOB_VERB_ACTIONS = frozenset(f"{v}-subjob-self" for v in VERBS)
# Internal: what a dependency's upstream failure does under dependency_failure=wait.
NOTE_ACTIONS = frozenset({"note-upstream-self"})
# Mails the job's (or the firing's item's) status: sent by a runner thread, not in the engine.
MAIL_ACTIONS = frozenset({"mail-status"})
ACTIONS = (
    JOB_ACTIONS | WORK_ACTIONS | SUBJOB_ACTIONS | VERB_ACTIONS | SUBJOB_VERB_ACTIONS
    | NOTE_ACTIONS | MAIL_ACTIONS
)  # fmt: skip


def parse_actions(code: str) -> list[str]:
    """The actions of ``code``; ValueError naming the first unknown one."""
    actions = [a for a in re.split(r"[\s,;]+", code.strip()) if a]
    if not actions:
        raise ValueError("a qube callback needs at least one action, e.g. 'unblock-self'")
    for a in actions:
        if a not in ACTIONS:
            raise ValueError(f"unknown qube action {a!r} (known: {', '.join(sorted(ACTIONS))})")
    return actions
