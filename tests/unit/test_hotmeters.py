"""The lock-free histograms of the hot paths, as Prometheus reads them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from triggerfish.hotmeters import HistFamily


def test_buckets_are_cumulative_with_prometheus_le() -> None:
    registry = CollectorRegistry()
    family = HistFamily("t_seconds", "a test", (0.1, 1.0), ["route"])
    registry.register(family)
    h = family.child("/a")
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):  # a value equal to a bound is in its bucket
        h.observe(value)
    family.child("/b").observe(0.2)
    [parsed] = text_string_to_metric_families(generate_latest(registry).decode())
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in parsed.samples}
    assert got[("t_seconds_bucket", (("le", "0.1"), ("route", "/a")))] == 2
    assert got[("t_seconds_bucket", (("le", "1.0"), ("route", "/a")))] == 4
    assert got[("t_seconds_bucket", (("le", "+Inf"), ("route", "/a")))] == 5
    assert got[("t_seconds_count", (("route", "/a"),))] == 5
    assert got[("t_seconds_sum", (("route", "/a"),))] == 8.65
    assert got[("t_seconds_bucket", (("le", "0.1"), ("route", "/b")))] == 0
    assert got[("t_seconds_count", (("route", "/b"),))] == 1
