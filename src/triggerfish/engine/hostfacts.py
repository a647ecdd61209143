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

from typing import TYPE_CHECKING, Any

from triggerfish.model.requirements import matches

if TYPE_CHECKING:
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


# name -> (slots, free, properties, memory_avail, facts): a host's facts are made again only
# when what they are made of changed (dispatch asks once per job it looks at)
_memo: dict[str, tuple[int, int, dict[str, Any], int | None, dict[str, Any]]] = {}


def facts_now(host: HostRT) -> dict[str, Any]:
    """The facts of ``host`` as it is now (remembered while its slots, free slots, properties
    and available memory stay the same: do not change the dict returned)."""
    free = host.free
    got = _memo.get(host.name)
    if (
        got is not None
        and got[0] == host.slots
        and got[1] == free
        and got[2] is host.properties
        and got[3] == host.memory_avail
    ):
        return got[4]
    facts = host_facts(host, free)
    _memo[host.name] = (host.slots, free, host.properties, host.memory_avail, facts)
    return facts


# name -> (properties, memory_avail, slots, {requirements: verdict}): whether the host meets
# each requirements text that does not read ``host.processor.avail``, while every other fact
# of the host stays the same (its free slots change at every start and end: dispatch asks for
# each class of jobs at each look, and most requirements do not depend on them)
_steady: dict[str, tuple[dict[str, Any], int | None, int, dict[str, bool]]] = {}
# name -> (facts, {requirements: verdict}): the same, for texts that read the free slots
_verdicts: dict[str, tuple[dict[str, Any], dict[str, bool]]] = {}

_FREE_SLOTS = "processor.avail"  # (a text that names host.processor.avail holds this)


def meets(host: HostRT, requirements: str) -> bool:
    """Whether ``host`` as it is now meets ``requirements`` (model.requirements.matches)."""
    if _FREE_SLOTS in requirements:
        return _meets_now(host, requirements)
    got = _steady.get(host.name)
    if (
        got is None
        or got[0] is not host.properties
        or got[1] != host.memory_avail
        or got[2] != host.slots
    ):
        got = _steady[host.name] = (host.properties, host.memory_avail, host.slots, {})
    verdict = got[3].get(requirements)
    if verdict is None:
        verdict = got[3][requirements] = matches(requirements, facts_now(host))
    return verdict


def _meets_now(host: HostRT, requirements: str) -> bool:
    facts = facts_now(host)
    got = _verdicts.get(host.name)
    if got is None or got[0] is not facts:
        got = _verdicts[host.name] = (facts, {})
    verdict = got[1].get(requirements)
    if verdict is None:
        verdict = got[1][requirements] = matches(requirements, facts)
    return verdict
