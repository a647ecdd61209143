"""Host properties sent at registration."""

from __future__ import annotations

import os
import platform

from triggerfish.worker.hostinfo import default_name, host_properties


def test_detected_properties() -> None:
    props = host_properties()
    assert props["os"] == platform.system().lower()
    assert props["cores"] == (os.cpu_count() or 1)
    assert isinstance(props["memory"], int) and props["memory"] > 0
    assert isinstance(props["gpus"], int) and props["gpus"] >= 0
    assert props["python"] == platform.python_version()
    assert {"os_release", "arch", "triggerfish"} <= set(props)


def test_labels_are_added_and_win() -> None:
    props = host_properties({"maya": "2025", "gpus": 2})
    assert props["maya"] == "2025"
    assert props["gpus"] == 2


def test_default_name_is_the_host_name() -> None:
    assert default_name()


def test_available_memory_is_read_at_most_once_a_second() -> None:
    from triggerfish.worker import hostinfo

    first = hostinfo.memory_avail()
    assert isinstance(first, int) and 0 < first <= hostinfo.memory_bytes()
    assert hostinfo._avail and hostinfo.memory_avail() == first  # (the same read)
    when = hostinfo._avail[0][0]
    hostinfo._avail[:] = [(when - hostinfo.AVAIL_EVERY, 1)]  # a second later: read again
    assert hostinfo.memory_avail() not in (None, 1)
