"""The ``dependency`` job field (SPEC §5), turned into native callbacks.

Comma-separated parts, all of which must hold (AND):

- ``N`` or ``complete-job-N``: job N complete;
- ``link-{complete|done|failed|killed}-job-X``: job X (id or label) reached that state;
- ``link-{state}-work-X``: frame by frame — item NAME of this job waits for item NAME of X
  (one pattern-variable callback, not one per frame);
- ``link-{state}-subjob-X``: instance by instance;
- any other trigger atom, e.g. ``done-job-ribgen``.

Job-level parts make the job start blocked and one callback ``unblock-self`` it; frame-level
parts make the items start blocked and one callback ``unblock-work-self`` each.

``dependency_failure`` (extension) says what happens when an upstream that must *complete*
fails or is killed instead: ``wait`` (Qube's behaviour, the default) leaves the job waiting
and says so in its ``reason``; ``fail`` fails the job (or the linked frame); ``run`` releases
it as if the upstream had completed (the parts then wait for ``done``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from triggerfish.callbacks.spec import CallbackSpec

_LINK = re.compile(r"^link-(complete|done|failed|killed)-(job|work|subjob)-([A-Za-z0-9_.]+)$")
_JOB_N = re.compile(r"^(?:complete-job-)?(\d+)$")


@dataclass
class Dependency:
    callbacks: list[CallbackSpec] = field(default_factory=list)
    block_job: bool = False
    block_items: bool = False
    block_subjobs: bool = False
    waits_for: list[str] = field(default_factory=list)  # the parts, for the job's reason


FAILURE_POLICIES = ("wait", "fail", "run")


def parse_dependency(text: str, failure: str = "wait") -> Dependency:
    """The callbacks of a ``dependency`` string; ValueError naming the bad part."""
    if failure not in FAILURE_POLICIES:
        raise ValueError(f"dependency_failure must be one of {', '.join(FAILURE_POLICIES)}")
    dep = Dependency()
    job_atoms: list[str] = []
    work_atoms: list[str] = []
    subjob_atoms: list[str] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            raise ValueError("an empty part (two commas, or a comma at an end)")
        dep.waits_for.append(part)
        if m := _JOB_N.match(part):
            job_atoms.append(f"complete-job-{m.group(1)}")
        elif m := _LINK.match(part):
            state, type_, target = m.groups()
            if type_ == "job":
                job_atoms.append(f"{state}-job-{target}")
            elif type_ == "work":
                work_atoms.append(f"{state}-work-{target}-$f")
            else:
                subjob_atoms.append(f"{state}-subjob-{target}-$s")
        elif part.startswith("link-"):
            raise ValueError(
                f"{part!r} is not link-{{complete|done|failed|killed}}-{{job|work|subjob}}-"
                "{id|label}"
            )
        else:
            job_atoms.append(part)  # any trigger atom; checked by the trigger parser
    if failure == "run":
        job_atoms = [_done_instead(a) for a in job_atoms]
        work_atoms = [_done_instead(a) for a in work_atoms]
        subjob_atoms = [_done_instead(a) for a in subjob_atoms]
    if job_atoms:
        dep.block_job = True
        dep.callbacks.append(CallbackSpec(triggers=" && ".join(job_atoms), code="unblock-self"))
        _on_failure(dep, job_atoms, failure, "fail-self", "note-upstream-self")
    if work_atoms:
        dep.block_items = True
        dep.callbacks.append(
            CallbackSpec(triggers=" && ".join(work_atoms), code="unblock-work-self")
        )
        _on_failure(dep, work_atoms, failure, "fail-work-self", "note-upstream-self")
    if subjob_atoms:
        dep.block_subjobs = True
        dep.callbacks.append(
            CallbackSpec(triggers=" && ".join(subjob_atoms), code="unblock-subjob-self")
        )
    return dep


def _done_instead(atom: str) -> str:
    return "done-" + atom.removeprefix("complete-") if atom.startswith("complete-") else atom


def _on_failure(dep: Dependency, atoms: list[str], failure: str, fail: str, note: str) -> None:
    """A callback for upstreams that must complete but fail or are killed instead."""
    ends = [
        f"{end}-{atom.removeprefix('complete-')}"
        for atom in atoms
        if atom.startswith("complete-")
        for end in ("failed", "killed")
    ]
    if ends and failure != "run":
        code = fail if failure == "fail" else note
        dep.callbacks.append(CallbackSpec(triggers=" || ".join(ends), code=code))
