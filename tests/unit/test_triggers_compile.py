"""Compiling an expression for one job: contexts → job ids, index keys, waiting labels."""

from __future__ import annotations

import pytest

from triggerfish.errors import ValidationError
from triggerfish.triggers import Compiled, TimeAtom, TriggerCompileError, compile_expr, parse
from triggerfish.triggers.compile import label_warnings


def compiled(text: str, job_id: int | None = 10, parent: int | None = 3, **labels: int) -> Compiled:
    return compile_expr(parse(text), job_id=job_id, parent=parent, labels=labels)


def test_contexts_resolve_to_job_ids() -> None:
    c = compiled(
        "complete-job-self && done-job-parent && failed-job-ribgen && killed-job-42",
        ribgen=7,
    )
    assert c.keys == (
        ("complete", "job", 10, None),
        ("done", "job", 3, None),
        ("failed", "job", 7, None),
        ("killed", "job", 42, None),
    )
    assert c.waiting == () and c.waiting_labels == frozenset()
    assert list(c.entries()) == list(enumerate(c.keys))


def test_extras_in_keys() -> None:
    c = compiled(
        "done-work-self-* || done-work-self || complete-work-render-1-10 || "
        "complete-subjob-self-2 || failed-job-self-*",
        render=8,
    )
    assert c.keys == (
        ("done", "work", 10, None),  # '*' and no extra: any extra
        ("done", "work", 10, None),
        ("complete", "work", 8, "1-10"),
        ("complete", "subjob", 10, "2"),
        ("failed", "job", 10, None),
    )


def test_host_wildcard_is_any_job() -> None:
    c = compiled("down-host-*-render07 || up-host-*-* || assigned-host-self-$h")
    assert c.keys == (
        ("down", "host", None, "render07"),
        ("up", "host", None, None),
        ("assigned", "host", 10, "$h"),
    )
    assert c.variable == "h"


def test_pattern_variable_keys() -> None:
    c = compiled("complete-work-ribgen-$f && complete-work-render-$f", ribgen=1, render=2)
    assert c.keys == (("complete", "work", 1, "$f"), ("complete", "work", 2, "$f"))
    assert c.variable == "f"
    assert c.program.bound_mask == 0b11


def test_done_atoms_keep_their_name() -> None:
    # the engine emits `done` after every terminal event: no alias in the keys
    assert compiled("done-job-self").keys == (("done", "job", 10, None),)


def test_missing_labels_wait_and_resolve_later() -> None:
    c = compiled("complete-work-ribGen-$f && complete-work-render-$f && done-job-ribGen", render=2)
    assert c.keys == (None, ("complete", "work", 2, "$f"), None)
    assert c.waiting == ((0, "ribGen"), (2, "ribGen"))
    assert c.waiting_labels == frozenset({"ribGen"})
    assert c.newly_resolved("ribGen") == (0, 2)
    assert c.resolve("other", 5) is c
    done = c.resolve("ribGen", 4)
    assert done.keys == (
        ("complete", "work", 4, "$f"),
        ("complete", "work", 2, "$f"),
        ("done", "job", 4, None),
    )
    assert done.waiting_labels == frozenset()
    assert c.keys[0] is None  # compiled objects are immutable


def test_labels_are_case_sensitive_and_missing_ones_are_warned_about() -> None:
    c = compiled("complete-job-ribgen && complete-job-zzz", ribGen=4)
    assert c.waiting_labels == {"ribgen", "zzz"}
    assert label_warnings(c, {"ribGen": 4}) == [
        "no job of the process group has the label 'ribgen' (did you mean 'ribGen'?); "
        "its atoms wait for a job with that label to join",
        "no job of the process group has the label 'zzz'; "
        "its atoms wait for a job with that label to join",
    ]


def test_self_needs_a_job() -> None:
    with pytest.raises(TriggerCompileError) as info:
        compiled("complete-job-self", job_id=None)
    assert "global callback" in info.value.message
    assert isinstance(info.value, ValidationError)
    with pytest.raises(TriggerCompileError):
        compiled("dummy-time-self-5", job_id=None)


def test_parent_needs_a_parent() -> None:
    with pytest.raises(TriggerCompileError) as info:
        compiled("complete-job-parent", parent=None)
    assert "no parent" in info.value.message


def test_global_callbacks_use_ids_hosts_and_global_time() -> None:
    c = compiled("globaltime-100 || down-host-*-x || complete-job-5", job_id=None, parent=None)
    assert c.keys == (
        ("dummy", "globaltime", None, str(100 + 946702800)),
        ("down", "host", None, "x"),
        ("complete", "job", 5, None),
    )
    assert list(c.timers()) == [(0, TimeAtom("dummy", "globaltime", 100))]


def test_time_atoms_are_keyed_by_unix_time_whatever_the_notation() -> None:
    c = compiled("dummy-time-self-100 && complete-job-self")
    assert c.keys == (("dummy", "time", 10, "946702900"), ("complete", "job", 10, None))
    assert [no for no, _ in c.timers()] == [0]
    assert c.waiting == ()
    iso = compiled("dummy-time-self-2000-01-01T00:01:40-05:00")
    assert iso.keys[0] == c.keys[0]
    rep = compiled("dummy-repeat-self-2000-01-01T05:01:40.5Z-60")
    assert rep.keys == (("dummy", "repeat", 10, "946702900.5-60"),)


def test_key_strings_are_interned() -> None:
    a = compiled("complete-work-x-17", x=1).keys[0]
    b = compiled("complete-work-y-17 || done-job-self", y=2).keys[0]
    assert a is not None and b is not None
    assert a[0] is b[0] and a[3] is b[3]
