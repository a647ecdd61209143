"""LocalFarm's pieces that need no process: ports, the children's environment, its URL."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import triggerfish
from triggerfish.cli.local import LocalFarm, child_env, free_port
from triggerfish.errors import TriggerfishError


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_child_env_drops_option_variables_and_imports_this_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIGGERFISH_DB", "postgresql://prod/farm")
    monkeypatch.setenv("TRIGGERFISH_URL", "http://prod:8765")
    monkeypatch.setenv("TRIGGERFISH_WORKER_GROUPS", "gpu")
    monkeypatch.setenv("TRIGGERFISH_TOKEN", "secret")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = child_env()
    assert "TRIGGERFISH_DB" not in env
    assert "TRIGGERFISH_URL" not in env
    assert "TRIGGERFISH_WORKER_GROUPS" not in env
    assert "TRIGGERFISH_TOKEN" not in env  # a farm's children use the farm's own token
    src = str(Path(triggerfish.__file__).resolve().parent.parent)
    assert env["PYTHONPATH"].split(os.pathsep) == [src, "/elsewhere"]


def test_farm_url_names_and_port() -> None:
    farm = LocalFarm(workers=3, port=0)
    assert farm.port > 0
    assert farm.url == f"http://127.0.0.1:{farm.port}"
    assert farm.worker_names == [f"{socket.gethostname()}-w{i}" for i in (1, 2, 3)]
    assert LocalFarm(port=9000, bind="0.0.0.0").url == "http://127.0.0.1:9000"
    assert LocalFarm(port=9000, bind="::1").url == "http://[::1]:9000"


def test_farm_refuses_nonsense_sizes() -> None:
    with pytest.raises(TriggerfishError):
        LocalFarm(workers=-1)
    with pytest.raises(TriggerfishError):
        LocalFarm(slots=0)


def test_stop_before_start_is_harmless(tmp_path: Path) -> None:
    farm = LocalFarm(data_dir=tmp_path)
    farm.stop()
    assert tmp_path.exists()


def test_farm_passes_metrics_public_to_its_supervisor_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIGGERFISH_METRICS_PUBLIC", "1")  # the farm's option decides
    assert "TRIGGERFISH_METRICS_PUBLIC" not in child_env()
    assert "--metrics-public" in LocalFarm(metrics_public=True)._supervisor_args()
    assert "--metrics-public" not in LocalFarm()._supervisor_args()


def test_a_started_farm_used_as_a_context_manager_is_started_once(tmp_path: Path) -> None:
    farm = LocalFarm(workers=0, data_dir=tmp_path / "farm", grace=5.0)
    with farm.start():  # (__enter__ starts it again: it is left as it is)
        first = farm.supervisor
        assert first is not None and first.poll() is None
        with farm:
            assert farm.supervisor is first
    assert first.poll() is not None  # stopped at the end, nothing left running
