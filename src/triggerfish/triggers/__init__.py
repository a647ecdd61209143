"""The trigger language of triggerfish (SPEC §3): pure code, no I/O.

Pipeline for one callback::

    expr = parse(text)                      # or check(text) -> Parsed(expr, warnings)
    compiled = compile_expr(expr, job_id=j, parent=p, labels=pgrp_labels)
    for atom_no, key in compiled.entries():
        index.add(callback_id, atom_no, key)
    latches = Latches(compiled.program, maximum=m)
    latches.on_event(catch_up(compiled, status_of, items_of))   # unless catchup: false
    ...
    for m in index.match(event.name, event.type, event.job, extra):  # grouped per callback
        firings = latches_of[m.callback_id].on_event([(m.atom_no, m.bindings), ...])

The event's ``extra`` is its subjob id (as text) for subjob events, its work name for work
events, its host name for host events, None for job events.

Decisions:

- ``done`` atoms match ``done`` events only: the engine emits ``done`` right after every
  terminal event (complete, failed, killed), so no alias is needed in the index.
- ``AND&&`` / ``OR||`` (doubled operators, a typo of the Qube docs' samples in seed 002) are
  errors whose message says to write one of the two; the samples mean AND / OR.
- Event names: any lowercase word (user-defined signals); names triggerfish never emits for the
  type are reported in ``Parsed.warnings``. Types must be known: job, subjob, work, host, time,
  repeat, globaltime, globalrepeat. Labels are case-sensitive; all-digit contexts are job ids.
- One pattern variable per expression, in the extra of work, subjob or host atoms.
- Wildcard extras (``done-work-X-*``) do not catch up; literal extras, job atoms and pattern
  variables (per finished item) do.
"""

from triggerfish.triggers.ast import (
    And,
    AnyAtom,
    Atom,
    Expr,
    Or,
    TimeAtom,
    all_of,
    any_of,
    atoms,
    unparse,
)
from triggerfish.triggers.catchup import ItemsOf, StatusOf, catch_up, reached, starts_latched
from triggerfish.triggers.compile import Compiled, compile_expr, label_warnings
from triggerfish.triggers.errors import TriggerCompileError, TriggerSyntaxError
from triggerfish.triggers.evaluate import Firing, Latches
from triggerfish.triggers.index import Match, TriggerIndex
from triggerfish.triggers.keys import NO_BINDINGS, Key, key_variable
from triggerfish.triggers.parse import Parsed, check, parse
from triggerfish.triggers.program import Program

__all__ = [
    "NO_BINDINGS",
    "And",
    "AnyAtom",
    "Atom",
    "Compiled",
    "Expr",
    "Firing",
    "ItemsOf",
    "Key",
    "Latches",
    "Match",
    "Or",
    "Parsed",
    "Program",
    "StatusOf",
    "TimeAtom",
    "TriggerCompileError",
    "TriggerIndex",
    "TriggerSyntaxError",
    "all_of",
    "any_of",
    "atoms",
    "catch_up",
    "check",
    "compile_expr",
    "key_variable",
    "label_warnings",
    "parse",
    "reached",
    "starts_latched",
    "unparse",
]
