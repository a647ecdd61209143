"""A host's facts under Qube's names: what job requirements are evaluated against.

:func:`host_facts` turns the engine's view of a host into one flat dict keyed by Qube's
property names. It is pure (no I/O, no clock) and cheap: a few dict operations per host.

Keys (always present):

=====================  ========  =========================================================
key                    type      value
=====================  ========  =========================================================
``host.name``          str       the host's name (``triggerfish worker --name``)
``host.os``            str       ``linux``, ``darwin``, ``windows`` (lower case; ``""`` if
                                 the worker did not say)
``host.processors``    int       its slots (``--slots``)
``host.processor.avail`` int     its free slots now: ``free`` as the caller computes it
                                 (``HostRT.free``: slots minus running attempts); the
                                 supervisor knows it, the worker does not report it
``host.memory``        int       total memory, MB (2**20 bytes), from the worker's
                                 registration (psutil); 0 if unknown
``host.memory.avail``  int       available memory, MB: as the worker last said (it sends it
                                 with its registration and its pulls, at most once a second);
                                 ``host.memory`` until it has said
=====================  ========  =========================================================

Then every other property the worker reports, as ``host.<key>``: the user's own
(``triggerfish worker --property gpu=a100`` gives ``host.gpu``: ``"a100"``; values are JSON
decoded, so ``--property vram=24`` gives the int 24) and the detected ones (``host.arch``,
``host.cores``, ``host.gpus``, ``host.os_release``, ``host.python``, ``host.triggerfish``).
The Qube-named keys above win over a property of the same name (a ``memory`` property is
bytes; ``host.memory`` is always MB). Keys are lower case only if the user wrote them so:
they are not folded.

Example: ``{"host.name": "r01", "host.os": "linux", "host.processors": 8,
"host.processor.avail": 3, "host.memory": 64000, "host.memory.avail": 41000,
"host.gpu": "a100", "host.site": "lon", ...}``.
"""

from __future__ import annotations

from typing import Any

from triggerfish.engine.objects import HostRT

MB = 1 << 20

# the facts the supervisor computes itself (a property of the same name never replaces them)
QUBE_KEYS = (
    "host.name",
    "host.os",
    "host.processors",
    "host.processor.avail",
    "host.memory",
    "host.memory.avail",
)


def _mb(value: Any) -> int:
    """Bytes (an int, or what a worker sent) as whole MB; 0 for what is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value) // MB)


def host_facts(host: HostRT, free: int) -> dict[str, Any]:
    """The Qube-named facts of ``host`` (see the module's docstring), ``free`` of its slots
    free now (``host.processor.avail``)."""
    props = host.properties or {}
    facts: dict[str, Any] = {f"host.{k}": v for k, v in props.items()}
    memory = _mb(props.get("memory"))
    avail = _mb(host.memory_avail) if host.memory_avail is not None else memory
    facts.update({
        "host.name": host.name,
        "host.os": str(props.get("os") or ""),
        "host.processors": host.slots,
        "host.processor.avail": max(0, free),
        "host.memory": memory,
        "host.memory.avail": avail,
    })  # fmt: skip
    return facts
