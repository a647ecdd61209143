"""What a worker tells the supervisor about its host when it registers."""

from __future__ import annotations

import logging
import os
import platform
import re
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from triggerfish import __version__

logger = logging.getLogger(__name__)

_NVIDIA_DEVICE = re.compile(r"^nvidia\d+$")


def default_name() -> str:
    """The host name a worker registers under unless told otherwise."""
    return socket.gethostname() or "localhost"


def memory_bytes() -> int:
    try:
        return int(psutil.virtual_memory().total)
    except (OSError, RuntimeError) as exc:  # pragma: no cover - psutil works where we run
        logger.warning("cannot read the memory size: %s", exc, extra={"action": "hostinfo"})
        return 0


AVAIL_EVERY = 1.0  # seconds between two reads of the available memory
_avail: list[tuple[float, int | None]] = []  # (when, bytes): the last read


def memory_avail() -> int | None:
    """Available memory in bytes (psutil's ``available``), read at most once per
    ``AVAIL_EVERY`` seconds (a worker sends it with each pull); None if it cannot be read."""
    now = time.monotonic()
    if _avail and now - _avail[0][0] < AVAIL_EVERY:
        return _avail[0][1]
    try:
        value: int | None = int(psutil.virtual_memory().available)
    except (OSError, RuntimeError):  # pragma: no cover - psutil works where we run
        value = None
    _avail[:] = [(now, value)]
    return value


def count_gpus() -> int:
    """NVIDIA GPUs visible through the driver's files (Linux); 0 where that is not cheap."""
    proc = Path("/proc/driver/nvidia/gpus")
    try:
        if proc.is_dir():
            return sum(1 for _ in proc.iterdir())
        dev = Path("/dev")
        return sum(1 for p in dev.iterdir() if _NVIDIA_DEVICE.match(p.name))
    except OSError:
        return 0


def host_properties(labels: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Detected properties of this host, with the user's free ``labels`` on top.

    Keys: ``os`` (``linux``, ``darwin``, ``windows``), ``os_release``, ``arch``, ``cores``,
    ``memory`` (bytes), ``gpus``, ``python`` and ``triggerfish`` (versions). A label with the
    name of a detected property replaces it (``gpus=2`` on a host the driver does not show).
    """
    props: dict[str, Any] = {
        "os": platform.system().lower(),
        "os_release": platform.release(),
        "arch": platform.machine().lower(),
        "cores": os.cpu_count() or 1,
        "memory": memory_bytes(),
        "gpus": count_gpus(),
        "python": platform.python_version(),
        "triggerfish": __version__,
    }
    if labels:
        props.update(labels)
    return props
