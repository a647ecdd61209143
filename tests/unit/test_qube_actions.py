"""The actions of the ``qube`` callback language (triggerfish.callbacks.qube)."""

from __future__ import annotations

import pytest

from triggerfish.callbacks.qube import ACTIONS, parse_actions

VERB_ACTIONS = [
    f"{verb}-{scope}self"
    for verb in ("suspend", "resume", "interrupt", "migrate", "preempt")
    for scope in ("", "subjob-")
]


@pytest.mark.parametrize("action", VERB_ACTIONS)
def test_every_dispatch_verb_of_qube_is_an_action(action: str) -> None:
    assert action in ACTIONS
    assert parse_actions(f"{action}, mail-status") == [action, "mail-status"]


def test_unknown_actions_are_still_refused() -> None:
    with pytest.raises(ValueError, match="unknown qube action 'suspend-work-self'"):
        parse_actions("suspend-work-self")
    with pytest.raises(ValueError, match="at least one action"):
        parse_actions(" ,\n")
