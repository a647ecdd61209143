"""The facts of a host that a job's ``requirements`` and ``hostorder`` read (model.requirements).

``host.name``, ``host.os``, ``host.processors`` (its slots), ``host.processor.avail`` (its free
slots), ``host.memory`` and ``host.memory.avail`` (MB; the total until the worker reports what
is free as ``memory_avail``), and ``host.<key>`` for each other property the worker reports
(``--property gpu=a100`` gives ``host.gpu``; detected ones too: ``host.arch``, ``host.gpus``…).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from triggerfish.engine.objects import HostRT

MB = 1024 * 1024
_OWN = frozenset({"os", "memory", "memory_avail"})  # properties with a fact of their own name
_BUILT = frozenset({"host.name", "host.processors", "host.processor.avail"})

# name -> (slots, free, properties, facts): a host's facts are made again only when what they
# are made of changed (dispatch asks once per job it looks at)
_memo: dict[str, tuple[int, int, dict[str, Any], dict[str, Any]]] = {}


def _mb(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value // MB)
    return None


def host_facts(host: HostRT, free: int) -> dict[str, Any]:
    """The facts of ``host`` with ``free`` slots free (a fresh dict: the caller may keep it)."""
    props = host.properties or {}
    facts: dict[str, Any] = {
        "host.name": host.name,
        "host.os": props.get("os", ""),
        "host.processors": host.slots,
        "host.processor.avail": free,
    }
    memory = _mb(props.get("memory"))
    if memory is not None:
        facts["host.memory"] = memory
        avail = _mb(props.get("memory_avail"))
        facts["host.memory.avail"] = memory if avail is None else avail
    for key, value in props.items():
        name = f"host.{key}"
        if key not in _OWN and name not in _BUILT:
            facts[name] = value
    return facts


def facts_now(host: HostRT) -> dict[str, Any]:
    """The facts of ``host`` as it is now (remembered while its slots and properties stay
    the same: do not change the dict returned)."""
    free = host.free
    got = _memo.get(host.name)
    if got is not None and got[0] == host.slots and got[1] == free and got[2] is host.properties:
        return got[3]
    facts = host_facts(host, free)
    _memo[host.name] = (host.slots, free, host.properties, facts)
    return facts
