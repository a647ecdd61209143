"""engine.hostfacts: a host's facts under Qube's names, as requirements see them."""

from __future__ import annotations

import click
from click.testing import CliRunner

from triggerfish.cli.params import HostProperty
from triggerfish.engine.hostfacts import QUBE_KEYS, host_facts
from triggerfish.engine.objects import HostRT

GB = 1 << 30


def _host(**props: object) -> HostRT:
    return HostRT("r01", "active", 8, dict(props), [], None, None, None, None)


def test_the_qube_named_facts_and_user_properties() -> None:
    h = _host(os="linux", memory=64 * GB, cores=16, gpu="a100", vram=24)
    h.memory_avail = 40 * GB
    facts = host_facts(h, 3)
    assert {k: facts[k] for k in QUBE_KEYS} == {
        "host.name": "r01",
        "host.os": "linux",
        "host.processors": 8,
        "host.processor.avail": 3,
        "host.memory": 64 * 1024,
        "host.memory.avail": 40 * 1024,
    }
    assert facts["host.gpu"] == "a100" and facts["host.vram"] == 24 and facts["host.cores"] == 16


def test_missing_facts_have_defaults_and_computed_ones_win() -> None:
    facts = host_facts(_host(name="spoof", memory="lots"), -1)
    assert facts["host.name"] == "r01"  # a property never replaces a computed fact
    assert facts["host.os"] == "" and facts["host.memory"] == 0
    assert facts["host.memory.avail"] == 0 and facts["host.processor.avail"] == 0
    h = _host(memory=8 * GB)
    assert host_facts(h, 8)["host.memory.avail"] == 8 * 1024  # not said yet: the total


def test_worker_properties_from_the_option_and_the_variable() -> None:
    seen: list[tuple[tuple[str, object], ...]] = []

    @click.command()
    @click.option("--property", "props", type=HostProperty(), multiple=True,
                  envvar="TRIGGERFISH_PROPERTIES")  # fmt: skip
    def cmd(props: tuple[tuple[str, object], ...]) -> None:
        seen.append(props)

    runner = CliRunner()
    assert runner.invoke(cmd, ["--property", "gpu=a100", "--property", "n=2"]).exit_code == 0
    env = {"TRIGGERFISH_PROPERTIES": "gpu=a100, site=lon,vram=24"}
    assert runner.invoke(cmd, [], env=env).exit_code == 0
    assert seen == [(("gpu", "a100"), ("n", 2)), (("gpu", "a100"), ("site", "lon"), ("vram", 24))]
    assert runner.invoke(cmd, ["--property", "nokey"]).exit_code != 0


def test_meets_follows_the_host_as_it_changes() -> None:
    from triggerfish.engine.hostfacts import meets
    from triggerfish.engine.objects import Attempt

    h = _host(memory=64 * GB, gpu="a100")
    h.name = "meets-r01"  # (the verdicts are kept by host name)
    h.memory_avail = 40 * GB
    assert meets(h, "host.gpu=a100 && host.memory.avail>=30000")
    h.memory_avail = 20 * GB  # (a pull says so)
    assert not meets(h, "host.gpu=a100 && host.memory.avail>=30000")
    h.properties = {"memory": 64 * GB, "gpu": "h100"}  # (registered again)
    assert not meets(h, "host.gpu=a100") and meets(h, "host.gpu=h100")
    assert meets(h, "host.processor.avail>=8")
    for i in range(7):  # seven of its eight slots taken
        h.attempts[f"t{i}"] = Attempt(f"t{i}", h.name, 1, i, None)
    assert not meets(h, "host.processor.avail>=8") and meets(h, "host.processor.avail=1")
    assert meets(h, "host.gpu=h100")  # (the rest is as it was)
