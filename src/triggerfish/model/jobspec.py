"""What a user may submit: the job dict with Qube's field names, validated strictly.

Unknown fields, wrong types, bad ranges and bad labels are rejected with a message that names the
field (``jobs[1].package.range``) and the problem. Validation is pure: nothing is stored here.
"""

from __future__ import annotations

import difflib
import re
import time
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from triggerfish.callbacks.dependency import parse_dependency
from triggerfish.callbacks.qube import parse_actions
from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.errors import ValidationError
from triggerfish.model.agenda import MAX_FRAMES, parse_range, range_items
from triggerfish.model.finite import check_finite
from triggerfish.model.flights import MAX_FLIGHT_TEXT
from triggerfish.model.flights import check as check_flights
from triggerfish.model.invalid import invalid
from triggerfish.model.requirements import MAX_TEXT, compiled, hostorder
from triggerfish.model.reservations import parse as parse_reservations
from triggerfish.model.tasks import MAX_SECONDS, TASK_ITEM, check_package
from triggerfish.model.when import parse_when, time_atom_text

LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
MAX_NAME = 256
MAX_LABEL = 255
MAX_ID = 2**31 - 1  # ids are 32-bit integer columns

Prototype = Literal["cmdline", "cmdrange", "task"]
BUILTIN_PROTOTYPES = frozenset({"cmdline", "cmdrange", "task"})
# any other prototype names a job type (issue 18): run by the workers that offer it
JOBTYPE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def is_jobtype(prototype: str) -> bool:
    """Whether ``prototype`` names a worker-side job type (not one of the built-in ones)."""
    return prototype not in BUILTIN_PROTOTYPES


# Qube's job flags (``flagsstring``, comma-separated names; ``flags``, their bits).
FLAGS: dict[str, int] = {
    "uninterruptible": 1, "grid": 4, "auto_mount": 8, "export_environment": 16, "expand": 32,
    "host_list": 256, "elite": 512, "mail": 1024, "disable_windows_job_object": 2048,
    "disable_cpu_limit": 4096, "disable_auto_complete": 8192, "auto_wrangling": 16384,
    "p_agenda": 32768, "migrate_on_frame_retry": 65536, "convert_path": 131072,
    "no_defaults": 524288,
}  # fmt: skip
PROD_FIELDS = (
    "prod_show", "prod_shot", "prod_seq", "prod_client", "prod_dept",
    "prod_custom1", "prod_custom2", "prod_custom3", "prod_custom4", "prod_custom5",
)  # fmt: skip
# Fields of Qube's Job that triggerfish stores and returns only when given (None otherwise).
QUBE_EXTRA = ("account", "kind", "domain", "restrictions", "flagsstring", "flags", "max_cpus",
              "waitfor", "p_agenda", *PROD_FIELDS)  # fmt: skip
# ... of which these do nothing here yet: accepted with a warning naming them.
NO_EFFECT: dict[str, str] = {
    "flagsstring": "job flags are not applied",
    "flags": "job flags are not applied",
    "restrictions": "cluster restrictions are not applied; the job's cluster is",
    "domain": "there is no Windows login on workers",
    "max_cpus": "there is no smart share",
    "p_agenda": "priority work items are not run",
}
# Qube's read-only job fields (what jobinfo returns): a job read back and submitted again
# carries them. Ignored, with a warning.
READ_ONLY = (
    "id", "reason", "subjobstatus", "agendastatus", "cpustally", "todo", "todotally",
    "lastupdate", "timesubmit", "timestart", "timecomplete", "globalorder", "localorder",
    "serverid", "subjobs", "path", "pathmap", "queue", "stuck", "agenda_truncated", "step",
)  # fmt: skip
# ... and of its agenda's items (Qube's Work, and triggerfish's own keys of them)
WORK_READ_ONLY = frozenset({
    "pid", "subid", "host", "count", "retry", "retrydelay", "result", "resultpackage",
    "address", "data", "lastupdate", "timesubmit", "timestart", "timecomplete", "id",
    "target", "job", "seq", "exit_code", "retries",
})  # fmt: skip
ALIASES = {"mail_address": "mailaddress"}  # spellings of studio tools -> Qube's field
MAX_TAG = 1000
Tag = Annotated[str, Field(max_length=MAX_TAG)]


def _split_names(value: Any) -> Any:
    """Qube accepts host and group lists as comma-separated strings."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class WorkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    status: Literal["pending", "blocked", "complete"] = "pending"
    package: dict[str, Any] | None = None  # the item's own (Qube's ``Work.package``)


class JobSpec(BaseModel):
    """One job of a submission. Field names are Qube's (SPEC §1)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    name: Annotated[str, Field(max_length=MAX_NAME)] = ""
    label: Annotated[str, Field(max_length=MAX_LABEL)] | None = None
    pgrp: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    pid: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    user: Annotated[str, Field(min_length=1, max_length=MAX_LABEL)] | None = None
    priority: Annotated[int, Field(ge=1, le=9999)] = 9999
    status: Literal["pending", "blocked"] = "pending"
    # cmdline, cmdrange, task, or the name of a job type a worker offers
    prototype: str | None = None
    package: dict[str, Any] = Field(default_factory=dict)
    agenda: list[WorkSpec | str] | str | None = None
    cpus: Annotated[int, Field(ge=1, le=10_000)] = 1
    hosts: list[str] = Field(default_factory=list)
    omithosts: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    omitgroups: list[str] = Field(default_factory=list)
    cluster: str | None = None
    retrywork: Annotated[int, Field(ge=0, le=1000)] = 0
    retrywork_delay: Annotated[float, Field(ge=0, le=MAX_SECONDS)] = 0.0
    retrysubjob: Annotated[int, Field(ge=0, le=1000)] = 0
    # whether a more urgent job may take this job's slots between its items (Qube's field)
    preemption: Literal["passive", "none"] = "passive"
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    mailaddress: str | None = None
    notes: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    # callbacks and dependencies (docs/callbacks.md); placement and what an instance takes
    # (docs/dispatch-requirements.md, docs/dispatch-resources.md)
    callbacks: list[CallbackSpec] = Field(default_factory=list)
    dependency: Annotated[str, Field(max_length=100_000)] = ""
    dependency_failure: Literal["wait", "fail", "run"] = "wait"
    requirements: Annotated[str, Field(max_length=MAX_TEXT)] = ""  # model.requirements
    hostorder: Annotated[str, Field(max_length=MAX_TEXT)] = ""
    reservations: Annotated[str, Field(max_length=MAX_TEXT)] = ""  # model.reservations
    # seconds an instance / a work item may run before a `timeout` event (Qube's fields) ...
    timeout: Annotated[float, Field(gt=0, le=MAX_SECONDS)] | None = None
    agenda_timeout: Annotated[float, Field(gt=0, le=MAX_SECONDS)] | None = None
    # ... and Qube's shorthands that also fail it then (qb.submit's timelimit rewrite)
    timelimit: Annotated[float, Field(gt=0, le=MAX_SECONDS)] | None = None
    agenda_timelimit: Annotated[float, Field(gt=0, le=MAX_SECONDS)] | None = None
    # hold the job (blocked) until then: ISO-8601 with zone, Qube time, or +DURATION
    after: str | int | None = None
    # flight checks (model.flights): comma-separated programs run on the host before an
    # instance's first item there / after its last, and around each item
    preflights: Annotated[str, Field(max_length=MAX_FLIGHT_TEXT)] = ""
    postflights: Annotated[str, Field(max_length=MAX_FLIGHT_TEXT)] = ""
    agenda_preflights: Annotated[str, Field(max_length=MAX_FLIGHT_TEXT)] = ""
    agenda_postflights: Annotated[str, Field(max_length=MAX_FLIGHT_TEXT)] = ""
    # Qube's other fields (QUBE_EXTRA): stored and returned; None when not given
    account: Tag | None = None
    kind: Tag | None = None
    domain: Tag | None = None
    restrictions: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    flagsstring: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    flags: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    max_cpus: Annotated[int, Field(ge=0, le=10_000)] | None = None
    waitfor: int | str | list[int | str] | None = None  # becomes a dependency (as qb.submit)
    p_agenda: list[WorkSpec | str] | None = None
    prod_show: Tag | None = None
    prod_shot: Tag | None = None
    prod_seq: Tag | None = None
    prod_client: Tag | None = None
    prod_dept: Tag | None = None
    prod_custom1: Tag | None = None
    prod_custom2: Tag | None = None
    prod_custom3: Tag | None = None
    prod_custom4: Tag | None = None
    prod_custom5: Tag | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        """``mail_address`` (a studio tool's spelling) is ``mailaddress``."""
        if isinstance(data, dict) and any(k in data for k in ALIASES):
            data = dict(data)
            for alias, name in ALIASES.items():
                if alias in data:
                    value = data.pop(alias)
                    data.setdefault(name, value)
        return data

    @field_validator("flagsstring")
    @classmethod
    def _flagsstring(cls, value: str | None) -> str | None:
        if value is None:
            return value
        for name in (n.strip() for n in value.split(",")):
            if name and name not in FLAGS:
                hint = difflib.get_close_matches(name, FLAGS, n=1)
                raise ValueError(
                    f"unknown job flag {name!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else f" (flags: {', '.join(FLAGS)})")
                )
        return value

    @field_validator("prototype")
    @classmethod
    def _prototype(cls, value: str | None) -> str | None:
        if value is None or value in BUILTIN_PROTOTYPES or JOBTYPE_RE.match(value):
            return value
        raise ValueError(
            f"{value!r} is neither cmdline, cmdrange nor task, nor a job type name (1 to 64 "
            "letters, digits, '_', '.' and '-')"
        )

    @field_validator("waitfor")
    @classmethod
    def _waitfor(cls, value: int | str | list[int | str] | None) -> Any:
        for w in [] if value is None else value if isinstance(value, list) else [value]:
            if isinstance(w, str) and not w.strip():
                continue
            if isinstance(w, bool) or not str(w).strip().isdigit():
                raise ValueError(f"{w!r} is not a job id")
        return value

    @field_validator("hosts", "omithosts", "groups", "omitgroups", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return _split_names(value)

    @field_validator(
        "retrywork_delay",
        "timeout",
        "agenda_timeout",
        "timelimit",
        "agenda_timelimit",
        mode="before",
    )
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "-" in value:
            raise ValueError(f"label {value!r} contains '-', which triggers use as a separator")
        if not LABEL_RE.match(value):
            raise ValueError(
                f"label {value!r} must start with a letter or '_' and hold only letters, "
                "digits, '_' and '.'"
            )
        return value

    @model_validator(mode="after")
    def _mail(self) -> JobSpec:
        for i, cb in enumerate(self.callbacks):
            mails = cb.language == "mail" or (
                cb.language == "qube" and "mail-status" in parse_actions(cb.code)
            )
            if mails and not (self.mailaddress or "").strip():
                raise PydanticCustomError(
                    "mailaddress",
                    "mailaddress: callbacks[{i}] mails the job's status, but the job has no "
                    "mailaddress",
                    {"i": i},
                )
        return self

    @field_validator("dependency")
    @classmethod
    def _dependency(cls, value: str) -> str:
        if value.strip():
            parse_dependency(value)  # ValueError naming the bad part
        return value

    @field_validator("after")
    @classmethod
    def _after(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_when(value, time.time())  # ValueError saying what is expected
        return value

    @field_validator("requirements")
    @classmethod
    def _requirements(cls, value: str) -> str:
        if value.strip():
            compiled(value)  # RequirementsError (a ValueError) naming the column
        return value if value.strip() else ""

    @field_validator("hostorder")
    @classmethod
    def _hostorder(cls, value: str) -> str:
        if value.strip():
            hostorder(value)
        return value if value.strip() else ""

    @field_validator("preflights", "postflights", "agenda_preflights", "agenda_postflights")
    @classmethod
    def _flights(cls, value: str) -> str:
        return check_flights(value)

    @field_validator("reservations")
    @classmethod
    def _reservations(cls, value: str) -> str:
        if value.strip():
            parse_reservations(value)
        return value if value.strip() else ""


class NormalizedJob(BaseModel):
    """A validated job with its agenda expanded: what the engine stores."""

    model_config = ConfigDict(extra="forbid")

    spec: JobSpec
    prototype: str  # Prototype, or a job type's name
    agenda: list[tuple[str, str]]  # (name, initial status)
    packages: dict[str, dict[str, Any]] = Field(default_factory=dict)  # item name -> its own
    step: int = 1
    callbacks: list[tuple[str, CallbackSpec]] = Field(default_factory=list)  # (source, spec)
    blocked_by_dependency: bool = False
    reason: str = ""
    warnings: list[str] = Field(default_factory=list)  # said in the submission's answer


def _package_str(pkg: dict[str, Any], key: str, where: str) -> str | None:
    value = pkg.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(
            f"{where}.package.{key}: expected a string", field=f"{where}.package.{key}"
        )
    return value


def listed_agenda(
    items: list[WorkSpec | str], where: str, packages: dict[str, dict[str, Any]] | None = None
) -> list[tuple[str, str]]:
    """An agenda given as a list of names or ``{name, status, package}``: (name, status)
    pairs; the items' non-empty packages go to ``packages`` (by name)."""
    if len(items) > MAX_FRAMES:
        raise ValidationError(
            f"{where}.agenda: more than {MAX_FRAMES:,} items in one job (split it into jobs)",
            field=f"{where}.agenda",
        )
    agenda: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        try:  # (a name given as a string is checked here: empty, too long)
            w = WorkSpec(name=item) if isinstance(item, str) else item
        except pydantic.ValidationError as exc:
            raise invalid(exc, f"{where}.agenda[{i}]") from None
        if not w.name:
            raise ValidationError(
                f"{where}.agenda[{i}].name: must not be empty", field=f"{where}.agenda"
            )
        if w.name in seen:
            raise ValidationError(
                f"{where}.agenda[{i}].name: {w.name!r} appears twice", field=f"{where}.agenda"
            )
        seen.add(w.name)
        agenda.append((w.name, w.status))
        if w.package:
            check_finite(w.package, f"{where}.agenda[{i}].package")
            if packages is not None:
                packages[w.name] = w.package
    return agenda


def normalize(spec: JobSpec, where: str = "job") -> NormalizedJob:
    """Expand the agenda and infer the prototype; raise ValidationError naming ``where``."""
    pkg = spec.package
    check_finite(pkg, f"{where}.package")
    check_finite(spec.data, f"{where}.data")
    rng = _package_str(pkg, "range", where)
    chunk_raw = pkg.get("chunk", 1)
    if not isinstance(chunk_raw, int) or isinstance(chunk_raw, bool) or chunk_raw < 1:
        raise ValidationError(
            f"{where}.package.chunk: expected a whole number ≥ 1", field=f"{where}.package.chunk"
        )
    step = 1
    agenda: list[tuple[str, str]] = []
    packages: dict[str, dict[str, Any]] = {}
    if rng is not None and spec.agenda is not None:
        raise ValidationError(
            f"{where}.agenda: give either agenda or package.range, not both",
            field=f"{where}.agenda",
        )
    src = "package.range"
    if isinstance(spec.agenda, str):
        rng, src = spec.agenda, "agenda"
    if rng is not None:
        names = range_items(rng, chunk_raw, field=f"{where}.{src}")
        agenda = [(n, "pending") for n in names]
        steps = {p.step for p in parse_range(rng, field=f"{where}.{src}")}
        # QB_FRAME_STEP is one number per job: a range whose parts differ in step gets 1.
        step = steps.pop() if len(steps) == 1 else 1
    elif isinstance(spec.agenda, list):  # (a string is a range: above)
        agenda = listed_agenda(spec.agenda, where, packages)
    prototype: str = spec.prototype or ("cmdrange" if agenda else "cmdline")
    if prototype == "task":
        check_package(pkg, where)
        if len(agenda) > 1 or rng is not None:
            raise ValidationError(
                f"{where}.agenda: a task job has exactly one work item", field=f"{where}.agenda"
            )
        agenda = agenda or [(TASK_ITEM, "pending")]
    if prototype == "cmdrange" and not agenda:
        raise ValidationError(
            f"{where}.agenda: a cmdrange job needs an agenda or package.range",
            field=f"{where}.agenda",
        )
    if prototype in ("cmdline", "cmdrange"):
        cmd = _package_str(pkg, "cmdline", where)
        if not cmd or not cmd.strip():
            raise ValidationError(
                f"{where}.package.cmdline: a {prototype} job needs a command line",
                field=f"{where}.package.cmdline",
            )
    given = set(spec.model_fields_set)  # (before what is derived from them)
    _qube_fields(spec)
    callbacks: list[tuple[str, CallbackSpec]] = [("job", cb) for cb in spec.callbacks]
    callbacks += _timelimits(spec)
    blocked = False
    reason = ""
    held_until = _after(spec, where)
    parts = [p for p in (spec.dependency.strip(), held_until) if p]
    if parts:
        dep = parse_dependency(",".join(parts), spec.dependency_failure)
        callbacks += [("dependency", cb) for cb in dep.callbacks]
        blocked = dep.block_job
        waits = [p for p in dep.waits_for if p != held_until]
        reason = "waiting for " + ", ".join(waits) if waits else ""
        if held_until:
            until = f"held until {held_until.removeprefix('dummy-time-self-')}"
            reason = f"{reason}; {until}" if reason else until
        if dep.block_items:
            if not agenda:
                raise ValidationError(
                    f"{where}.dependency: a link to work needs a job with an agenda",
                    field=f"{where}.dependency",
                )
            agenda = [(n, "blocked" if st == "pending" else st) for n, st in agenda]
    warnings = [f"{where}.{k}: stored, but has no effect in triggerfish yet ({why})"
                for k, why in NO_EFFECT.items() if k in given and getattr(spec, k)]  # fmt: skip
    return NormalizedJob(
        spec=spec, prototype=prototype, agenda=agenda, packages=packages, step=step,
        callbacks=callbacks,
        blocked_by_dependency=blocked, reason=reason, warnings=warnings,
    )  # fmt: skip


def _qube_fields(spec: JobSpec) -> None:
    """What Qube's ``qb.submit`` derives: ``flags`` from ``flagsstring``, and ``waitfor``
    (deprecated) as ``link-done-job-N`` dependencies."""
    if spec.flagsstring is not None and spec.flags is None:
        names = {n.strip() for n in spec.flagsstring.split(",") if n.strip()}
        spec.flags = sum(FLAGS[n] for n in names)
    waits = spec.waitfor if isinstance(spec.waitfor, list) else [spec.waitfor]
    links = [f"link-done-job-{str(w).strip()}" for w in waits if str(w or "").strip()]
    if links:
        dep = spec.dependency.strip()
        spec.dependency = ",".join([dep, *links] if dep else links)


def _after(spec: JobSpec, where: str) -> str | None:
    """The time atom holding the job until ``after`` (None when not held); ``spec.after``
    becomes the absolute time (a ``+DURATION`` is resolved now, once)."""
    if spec.after is None:
        return None
    now = time.time()
    try:
        moment = parse_when(spec.after, now)
    except ValueError as exc:
        raise ValidationError(f"{where}.after: {exc}", field=f"{where}.after") from None
    spec.after = time_atom_text(moment)
    if moment.timestamp() <= now:
        return None  # already past: nothing to wait for
    return f"dummy-time-self-{spec.after}"


def _timelimits(spec: JobSpec) -> list[tuple[str, CallbackSpec]]:
    """Qube's ``timelimit`` / ``agenda_timelimit``: the timeout, and a callback failing the
    instance / item that passes it (what qb.submit generates)."""
    out: list[tuple[str, CallbackSpec]] = []
    if spec.timelimit is not None:
        spec.timeout = spec.timeout or spec.timelimit
        out.append(("job", CallbackSpec(triggers="timeout-subjob-self-*", code="fail-subjob-self")))
    if spec.agenda_timelimit is not None:
        spec.agenda_timeout = spec.agenda_timeout or spec.agenda_timelimit
        out.append(("job", CallbackSpec(triggers="timeout-work-self-*", code="fail-work-self")))
    return out


KNOWN_FIELDS = frozenset(JobSpec.model_fields) | frozenset(READ_ONLY) | frozenset(ALIASES)


def _known(item: dict[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """``item`` without Qube's read-only fields (and their names); an unknown field is an
    error saying which known one it may be a typo of."""
    for key in item:
        if key not in KNOWN_FIELDS:
            hint = difflib.get_close_matches(str(key), KNOWN_FIELDS, n=1, cutoff=0.75)
            raise ValidationError(
                f"{where}.{key}: unknown field" + (f"; did you mean {hint[0]!r}?" if hint else ""),
                field=f"{where}.{key}",
            )
    ignored = [k for k in item if k in READ_ONLY]
    if ignored:
        item = {k: v for k, v in item.items() if k not in READ_ONLY}
    agenda = item.get("agenda")
    if isinstance(agenda, list) and any(isinstance(w, dict) for w in agenda):
        items = [_known_work(w) for w in agenda]
        if any(w is not x for w, x in zip(items, agenda, strict=True)):
            ignored.append("the read-only fields of agenda items")
        item = {**item, "agenda": items}
    return item, ignored


def _known_work(w: Any) -> Any:
    """An agenda item without Qube's read-only Work fields (itself when it has none)."""
    if not isinstance(w, dict) or not WORK_READ_ONLY.intersection(w):
        return w
    return {k: v for k, v in w.items() if k not in WORK_READ_ONLY}


def parse_jobs(raw: Any) -> list[NormalizedJob]:
    """Validate a submission (a list of job dicts, or ``{"jobs": [...]}``) in full.

    Raises ValidationError for the first problem found, naming ``jobs[i].field``.
    """
    if isinstance(raw, dict) and set(raw) == {"jobs"}:
        raw = raw["jobs"]
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ValidationError("expected a non-empty list of job dicts", field="jobs")
    out: list[NormalizedJob] = []
    for i, item in enumerate(raw):
        where = f"jobs[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(f"{where}: expected a job dict", field=where)
        item, ignored = _known(item, where)
        try:
            spec = JobSpec.model_validate(item)
        except pydantic.ValidationError as exc:
            raise invalid(exc, where) from None
        nj = normalize(spec, where)
        if ignored:
            nj.warnings.insert(0, f"{where}: ignored {', '.join(ignored)} (set by the supervisor, "
                               "not by a submission)")  # fmt: skip
        out.append(nj)
    labels: dict[str, int] = {}
    for i, job in enumerate(out):
        label = job.spec.label
        if label is None:
            continue
        if label in labels:
            raise ValidationError(
                f"jobs[{i}].label: {label!r} is already the label of jobs[{labels[label]}]",
                field=f"jobs[{i}].label",
            )
        labels[label] = i
    return out
