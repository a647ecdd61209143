"""From an assignment to a command: frame substitution, environment, working directory.

Pure: nothing here starts a process. ``QB_FRAME_NUMBER``, ``QB_FRAME_START``, ``QB_FRAME_END``
and ``QB_FRAME_STEP`` in the command text are replaced by the frame numbers (zero-padded to
``package["padding"]`` digits), the way Qube's cmdrange does it. A name written as a shell
variable (``$QB_FRAME_START``, ``${QB_FRAME_START}``) is left to the shell, which finds the
same value, unpadded, in the environment (so that ``$((QB_FRAME_NUMBER + 1))`` stays decimal).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from triggerfish.api.schemas import Assignment
from triggerfish.worker.errors import CommandError

SHELL = "/bin/sh"
FRAME_VARS = ("QB_FRAME_NUMBER", "QB_FRAME_START", "QB_FRAME_END", "QB_FRAME_STEP")
MAX_PADDING = 64
# The worker's own credentials never reach the commands it runs.
PRIVATE_ENV = ("TRIGGERFISH_TOKEN", "TRIGGERFISH_WORKER_TOKEN")


@dataclass(frozen=True, slots=True)
class Frames:
    """The frames of one assignment: a frame (start = end) or a chunk ``start-end``."""

    number: int
    start: int
    end: int
    step: int


@dataclass(frozen=True, slots=True)
class Command:
    argv: list[str]
    env: dict[str, str]
    cwd: str | None


def frames_of(a: Assignment) -> Frames | None:
    if a.frame_start is None:
        return None
    end = a.frame_end if a.frame_end is not None else a.frame_start
    return Frames(a.frame_start, a.frame_start, end, a.frame_step or 1)


def padding_of(package: Mapping[str, Any]) -> int:
    raw = package.get("padding")
    if raw is None:
        return 0
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw)
    if value is None or not 0 <= value <= MAX_PADDING:
        raise CommandError(
            f"package.padding: expected a whole number from 0 to {MAX_PADDING}, got {raw!r}",
            field="package.padding",
        )
    return value


def frame_values(frames: Frames, padding: int = 0) -> dict[str, str]:
    """Values of the ``QB_FRAME_*`` names, each zero-padded to ``padding`` digits."""
    return {
        "QB_FRAME_NUMBER": f"{frames.number:0{padding}d}",
        "QB_FRAME_START": f"{frames.start:0{padding}d}",
        "QB_FRAME_END": f"{frames.end:0{padding}d}",
        "QB_FRAME_STEP": str(frames.step),
    }


@lru_cache(maxsize=16)
def _pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    # Longest names first, so that a name never matches inside a longer one; one pass, so that
    # a replaced value is never replaced again.
    alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<!\$)(?<!\$\{{)(?:{alternation})")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each name of ``values`` in ``text``, except where written ``$NAME``/``${NAME}``."""
    if not values:
        return text
    return _pattern(tuple(values)).sub(lambda m: values[m.group(0)], text)


def command_env(
    a: Assignment, base: Mapping[str, str], values: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``base`` + the job's env + the Qube variables of the attempt (which win).

    ``values``: the unpadded :func:`frame_values` of ``a``, when the caller has them."""
    env = dict(base)  # a plain dict copies fast (os.environ decodes every entry)
    for name in PRIVATE_ENV:
        env.pop(name, None)
    if a.api_token is not None:  # the job's token: its owner's rights while the job runs
        env["TRIGGERFISH_TOKEN"] = a.api_token
    if a.env:
        env.update(a.env)  # a token the job's env names itself wins
    env["QBJOBID"] = str(a.job)
    env["QBSUBID"] = str(a.subid)
    env["QBPGRPID"] = str(a.pgrp)
    if values is None:
        frames = frames_of(a)
        values = frame_values(frames) if frames is not None else None
    if values is not None:
        env.update(values)
    if a.work is not None:
        env["TRIGGERFISH_WORK"] = a.work
    return env


def build_command(a: Assignment, base_env: Mapping[str, str] | None = None) -> Command:
    """The shell command of a ``cmdline``/``cmdrange`` assignment; CommandError if impossible."""
    if os.name != "posix":
        raise CommandError("this worker runs commands on POSIX systems only")
    text = a.package.get("cmdline")
    if not isinstance(text, str) or not text.strip():
        raise CommandError("package.cmdline: missing or not a string", field="package.cmdline")
    frames = frames_of(a)
    values: dict[str, str] | None = None
    if frames is not None:
        values = frame_values(frames)
        padding = padding_of(a.package)
        if "QB_FRAME_" in text:  # (all of FRAME_VARS start so)
            text = substitute(text, frame_values(frames, padding) if padding else values)
    env = command_env(a, os.environ if base_env is None else base_env, values)
    return Command([SHELL, "-c", text], env, a.cwd)
