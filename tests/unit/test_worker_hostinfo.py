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
