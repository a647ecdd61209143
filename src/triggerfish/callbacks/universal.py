"""Universal callbacks (SPEC §5): callbacks a site administrator attaches to every job.

Each directory of ``universal_callback_path`` may hold a ``callbacks.conf`` of
``file = trigger`` lines (``#`` starts a comment) and the files it names, in the same
directory: ``.py`` runs as python, ``.pl`` as perl, ``.qcb`` holds qube actions. A bad line
(no ``=``, unknown extension, missing file, bad trigger, bad qube actions, a file mapped twice)
is reported and skipped; the good lines keep working.

:class:`UniversalCallbacks` keeps the current conf: it is re-read when a conf or a file it names
changes (checked by ``stat``, cheaply, at each submission and every few seconds by a timer
thread) and on demand (``triggerfish callbacks reload``). The files' code is read when their
callback fires: python and perl by the runner, ``.qcb`` actions from a cache this class keeps
fresh, so the engine never touches the disk.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triggerfish.callbacks.qube import parse_actions
from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.errors import TriggerfishError
from triggerfish.triggers import TriggerSyntaxError, parse

logger = logging.getLogger(__name__)
CONF = "callbacks.conf"
EXTENSIONS = {".py": "python", ".pl": "perl", ".qcb": "qube"}
CHECK_EVERY = 2.0  # seconds between two stat checks of the timer thread


@dataclass(frozen=True)
class Entry:
    """A good line: ``file`` (as written) in ``conf`` maps ``path`` to ``trigger``."""

    conf: str
    line: int
    file: str
    path: str
    trigger: str
    language: str

    def spec(self) -> CallbackSpec:
        # checked when the conf was read; the code is the file, read when the callback fires
        return CallbackSpec.model_construct(
            triggers=self.trigger, language=self.language, code=self.path
        )


@dataclass(frozen=True)
class Problem:
    conf: str
    line: int
    text: str
    error: str


@dataclass
class Conf:
    dirs: list[str]
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # directories without callbacks.conf
    qcb: dict[str, list[str]] = field(default_factory=dict)  # path -> actions
    named: list[str] = field(default_factory=list)  # every file a line names, good or bad
    loaded: float = 0.0

    def specs(self) -> list[CallbackSpec]:
        return [e.spec() for e in self.entries]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dirs": self.dirs,
            "loaded": self.loaded,
            "entries": [e.__dict__ for e in self.entries],
            "problems": [p.__dict__ for p in self.problems],
            "missing": self.missing,
        }


def parse_path(text: str | None) -> list[Path]:
    """``universal_callback_path``: comma-separated directories."""
    return [Path(p.strip()).expanduser() for p in (text or "").split(",") if p.strip()]


def read_conf(dirs: Sequence[Path]) -> Conf:
    """Read every directory's callbacks.conf and check each line."""
    conf = Conf(dirs=[str(d) for d in dirs], loaded=time.time())
    seen: dict[str, tuple[str, int]] = {}
    for d in dirs:
        path = d / CONF
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            conf.missing.append(str(d))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            conf.problems.append(Problem(str(path), 0, "", f"cannot read it: {exc}"))
            continue
        for no, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if "=" in line and line.split("=", 1)[0].strip():
                conf.named.append(str(d / line.split("=", 1)[0].strip()))
            try:
                entry = _entry(d, str(path), no, line, conf.qcb)
            except _Bad as exc:
                conf.problems.append(Problem(str(path), no, raw.strip(), str(exc)))
                continue
            first = seen.get(entry.path)
            if first is not None:
                conf.problems.append(Problem(
                    str(path), no, raw.strip(),
                    f"duplicate entry: {entry.file} is already mapped at {first[0]}:{first[1]} "
                    "(the first line is kept)",
                ))  # fmt: skip
                continue
            seen[entry.path] = (str(path), no)
            conf.entries.append(entry)
    return conf


class _Bad(Exception):
    pass


def _entry(d: Path, conf: str, no: int, line: str, qcb: dict[str, list[str]]) -> Entry:
    if "=" not in line:
        raise _Bad("expected 'file = trigger'")
    name, trigger = (x.strip() for x in line.split("=", 1))
    if not name:
        raise _Bad("no file before '='")
    if not trigger:
        raise _Bad(f"no trigger after '{name} ='")
    ext = os.path.splitext(name)[1].lower()
    language = EXTENSIONS.get(ext)
    if language is None:
        known = ", ".join(EXTENSIONS)
        raise _Bad(f"unknown extension {ext or '(none)'!r} of {name} (known: {known})")
    path = (d / name).resolve()
    if not path.is_file():
        raise _Bad(f"missing file: {path} does not exist" if not path.exists()
                   else f"{path} is not a file")  # fmt: skip
    try:
        parse(trigger)
    except TriggerSyntaxError as exc:
        raise _Bad(f"bad trigger {trigger!r}: {exc.message}") from None
    if language == "qube":
        try:
            qcb[str(path)] = parse_actions(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise _Bad(f"cannot read {path}: {exc}") from None
        except ValueError as exc:
            raise _Bad(f"bad qube actions in {name}: {exc}") from None
    return Entry(conf, no, name, str(path), trigger, language)


def read_qcb(path: str) -> list[str]:
    """The qube actions of a ``.qcb`` file, read now (for a supervisor without the cache)."""
    try:
        return parse_actions(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TriggerfishError(f"{path}: {exc}") from None


def _stamp(paths: Iterable[Path]) -> tuple[Any, ...]:
    out: list[Any] = []
    for p in paths:
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append((str(p), None))
    return tuple(out)


class UniversalCallbacks:
    """The current universal callbacks of a supervisor, reloaded when their files change."""

    def __init__(self, dirs: Sequence[Path], check_every: float = CHECK_EVERY) -> None:
        self.dirs = list(dirs)
        self.check_every = check_every
        self._lock = threading.Lock()
        self._conf = Conf(dirs=[str(d) for d in self.dirs])
        self._specs: tuple[CallbackSpec, ...] = ()
        self._stamp: tuple[Any, ...] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ reading

    def _watched(self, conf: Conf) -> list[Path]:
        """The confs and every file a line names (good or bad: a missing file may appear)."""
        return [d / CONF for d in self.dirs] + [Path(p) for p in conf.named]

    def current(self) -> Conf:
        """The conf, re-read first if a file changed since the last look (a few stat calls)."""
        with self._lock:
            if _stamp(self._watched(self._conf)) != self._stamp:
                self._load()
            return self._conf

    def reload(self) -> Conf:
        """Re-read the conf now, changed or not."""
        with self._lock:
            self._load()
            return self._conf

    def _load(self) -> None:
        conf = read_conf(self.dirs)
        # what the new conf names (a file may have become a line, or stopped being one)
        self._conf, self._stamp = conf, _stamp(self._watched(conf))
        self._specs = tuple(conf.specs())
        for p in conf.problems:
            logger.warning(
                "universal callback %s line %d skipped: %s", p.conf, p.line, p.error,
                extra={"action": "universal.bad_line", "conf": p.conf, "line": p.line},
            )  # fmt: skip
        logger.info(
            "universal callbacks loaded: %d good, %d bad", len(conf.entries), len(conf.problems),
            extra={"action": "universal.load", "dirs": conf.dirs},
        )  # fmt: skip

    def specs(self) -> list[CallbackSpec]:
        """The callbacks to attach to a job submitted now."""
        return self.current().specs()

    def cached_specs(self) -> tuple[CallbackSpec, ...]:
        """The callbacks to attach, as last read (no file is looked at: the timer thread and
        :meth:`specs` keep them fresh); for the engine's own submissions (tasks, scheduled
        and recurring runs), which must not wait for the disk."""
        return self._specs

    def qcb_actions(self, path: str) -> list[str]:
        """The qube actions of a ``.qcb`` file as last read (an error when it went bad)."""
        actions = self._conf.qcb.get(path)
        if actions is None:
            raise TriggerfishError(f"{path} is no longer a good line of the universal callbacks")
        return actions

    # ------------------------------------------------------------------ the timer

    def start(self) -> None:
        self.current()
        self._thread = threading.Thread(target=self._watch, name="universal-callbacks",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every):
            try:
                self.current()
            except Exception:  # never let the timer die
                logger.exception("universal callbacks check failed",
                                 extra={"action": "universal.check"})  # fmt: skip
