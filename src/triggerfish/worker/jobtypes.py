"""The job types a worker offers: ``--jobtypes`` directories and installed entry points.

A directory ``DIR/NAME/`` holding an ``execute.py`` is the job type ``NAME`` (Qube's layout);
its optional ``job.conf`` gives the package defaults of the jobs of that type. An installed
Python package may also offer job types through the entry point group ``triggerfish.jobtypes``:
``NAME = "module"`` runs the module as ``python -m module``, ``NAME = "module:function"`` calls
the function. Each job type runs as one process per instance (:mod:`triggerfish.worker.jobproc`)
with the worker's Python.

``job.conf`` is read as INI (``key = value`` lines, ``#`` / ``;`` comments, ``[section]``
headers, no interpolation): the keys before the first section and those of a ``[package]``
section are the package defaults (a value in matching quotes loses them; every value is a
string). In Qube's ``[execute module]`` section, an ``execute_library`` naming a ``.py`` file
of the directory is the program run instead of ``execute.py``. Other sections (Qube's
``[description]``, ``[submit module]``) are kept, for ``qb.jobobj()["jobtype"]``, and have no
effect.

When two sources name the same job type, the first directory of ``--jobtypes`` wins, then the
later directories, then the entry points, then the job types that come with triggerfish
(:data:`BUILTIN_JOBTYPES`); the names of the worker's own prototypes (``cmdline``,
``cmdrange``, ``task``) are refused.
"""

from __future__ import annotations

import configparser
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from triggerfish.model.jobspec import JOBTYPE_RE

logger = logging.getLogger(__name__)

GROUP = "triggerfish.jobtypes"
EXECUTE = "execute.py"
CONF = "job.conf"
RESERVED = frozenset({"cmdline", "cmdrange", "task"})  # the prototypes of the worker itself
# job types that come with triggerfish (name: "module" or "module:function", as an entry
# point), offered by every worker after the directories and the entry points
BUILTIN_JOBTYPES: dict[str, str] = {
    "pyfutures": "triggerfish.futures.jobtype:main",  # triggerfish.futures.Executor's calls
}
TARGET_RE = re.compile(r"[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?")
PACKAGE_SECTIONS = ("", "package")  # ("": the keys before the first section)
EXECUTE_SECTION = "execute module"


class JobTypeError(ValueError):
    """A job type that cannot be loaded (a bad ``job.conf``, a bad entry point)."""


@dataclass(frozen=True, slots=True)
class JobType:
    """One job type: how to start its process, and the package defaults of its jobs."""

    name: str
    argv: tuple[str, ...]  # the process to start (the worker's Python first)
    source: str  # where it comes from: its directory, or "entry point module:function"
    defaults: dict[str, str] = field(default_factory=dict)  # job.conf's package defaults
    conf: dict[str, dict[str, str]] = field(default_factory=dict)  # every section of job.conf

    def describe(self) -> dict[str, object]:
        """What ``qb.jobobj()["jobtype"]`` shows of it."""
        return {"name": self.name, "source": self.source, "conf": self.conf}


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_conf(text: str, where: str = CONF) -> dict[str, dict[str, str]]:
    """The sections of a ``job.conf`` (section names lower-cased; ``""`` before the first)."""
    parser = configparser.ConfigParser(
        interpolation=None, strict=False, comment_prefixes=("#", ";"), default_section="\0"
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    try:
        parser.read_string("[\0top]\n" + text, source=where)
    except configparser.Error as exc:
        raise JobTypeError(f"{where}: {exc}") from None
    out: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        name = "" if section == "\0top" else section.strip().lower()
        values = out.setdefault(name, {})
        for key, value in parser.items(section, raw=True):
            values[key] = _unquote(value or "")
    if not out.get(""):
        out.pop("", None)
    return out


def package_defaults(conf: dict[str, dict[str, str]]) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for section in PACKAGE_SECTIONS:
        defaults.update(conf.get(section, {}))
    return defaults


def _program(directory: Path, conf: dict[str, dict[str, str]]) -> Path:
    library = conf.get(EXECUTE_SECTION, {}).get("execute_library", "")
    if library.endswith(".py") and "/" not in library and (directory / library).is_file():
        return directory / library
    return directory / EXECUTE


def from_directory(directory: Path) -> JobType:
    """The job type of ``directory`` (which holds an ``execute.py``)."""
    conf_path = directory / CONF
    conf: dict[str, dict[str, str]] = {}
    if conf_path.is_file():
        try:
            text = conf_path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise JobTypeError(f"{conf_path}: {exc.strerror or exc}") from None
        conf = parse_conf(text, str(conf_path))
    program = _program(directory, conf)
    return JobType(
        name=directory.name,
        argv=(sys.executable, str(program)),
        source=str(directory),
        defaults=package_defaults(conf),
        conf=conf,
    )


def from_target(name: str, target: str) -> JobType:
    """The job type of an entry point: ``module`` or ``module:function``."""
    target = target.strip()
    if not TARGET_RE.fullmatch(target):
        raise JobTypeError(f"entry point {name!r}: expected 'module' or 'module:function', "
                           f"got {target!r}")  # fmt: skip
    module, _, function = target.partition(":")
    if not function:
        argv: tuple[str, ...] = (sys.executable, "-m", module)
    else:  # the function is called in the child process
        code = (
            "import importlib, operator; "
            f"operator.attrgetter({function!r})(importlib.import_module({module!r}))()"
        )
        argv = (sys.executable, "-c", code)
    return JobType(name=name, argv=argv, source=f"entry point {target}")


def _directories(dirs: Sequence[Path]) -> Iterable[JobType]:
    for base in dirs:
        try:
            children = sorted(p for p in base.iterdir() if (p / EXECUTE).is_file())
        except OSError as exc:
            logger.warning(
                "job types: cannot read %s (%s)",
                base,
                exc.strerror or exc,
                extra={"action": "jobtypes_dir"},
            )
            continue
        for child in children:
            try:
                yield from_directory(child)
            except JobTypeError as exc:
                logger.warning("job type %s not offered: %s", child.name, exc,
                               extra={"action": "jobtype_bad"})  # fmt: skip


def _entry_points() -> Iterable[JobType]:
    targets = [(ep.name, ep.value) for ep in entry_points(group=GROUP)]
    for name, target in [*targets, *BUILTIN_JOBTYPES.items()]:
        try:
            yield from_target(name, target)
        except JobTypeError as exc:
            logger.warning("job type %s not offered: %s", name, exc,
                           extra={"action": "jobtype_bad"})  # fmt: skip


def discover(dirs: Sequence[Path] = (), *, installed: bool = True) -> dict[str, JobType]:
    """The job types of ``dirs`` (in order) and, with ``installed``, of the entry points and
    :data:`BUILTIN_JOBTYPES`."""
    found: dict[str, JobType] = {}
    sources: list[Iterable[JobType]] = [_directories(dirs)]
    if installed:
        sources.append(_entry_points())
    for source in sources:
        for jt in source:
            if not JOBTYPE_RE.match(jt.name) or jt.name in RESERVED:
                logger.warning("job type %r from %s not offered: not a usable name", jt.name,
                               jt.source, extra={"action": "jobtype_bad"})  # fmt: skip
                continue
            first = found.setdefault(jt.name, jt)
            if first is not jt:
                logger.warning(
                    "job type %s of %s is hidden by the one of %s",
                    jt.name,
                    jt.source,
                    first.source,
                    extra={"action": "jobtype_hidden"},
                )
    return found
