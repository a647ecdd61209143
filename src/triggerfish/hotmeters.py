"""Histograms for the hot paths: one writer at a time, no lock, exposed by prometheus_client.

prometheus_client's ``Histogram.observe`` takes a lock for the sum and another for the bucket
(and ``labels()`` a third): right for any thread, but a few microseconds each time where the
supervisor spends about a hundred per frame. The engine observes under its own lock (one
batch at a time, on its thread or the server's loop) and the HTTP server on its one event loop,
so these need none: an observation is a bisection and two additions. A scrape copies the counts
(a list copy, whole under the GIL); a bucket's count and the sum may then be one observation
apart, which Prometheus tolerates as it does for prometheus_client's own histograms.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class Hist:
    """One histogram (one set of label values): counts per bucket, and the sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float) -> None:
        # the first bucket whose bound is >= value: Prometheus' ``le``
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(le, count)`` pairs, ``+Inf`` last, and the sum."""
        counts, total = self.counts.copy(), self.total
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), counts, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out, total


class HistFamily(Collector):
    """A histogram family with labels (none: one histogram); register it in a registry."""

    def __init__(
        self, name: str, doc: str, bounds: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.doc = doc
        self.bounds = tuple(bounds)
        self.labels = tuple(labels)
        self.children: dict[tuple[str, ...], Hist] = {}

    def child(self, *values: str) -> Hist:
        """The histogram of these label values (made at its first use)."""
        h = self.children.get(values)
        if h is None:
            h = self.children[values] = Hist(self.bounds)
        return h

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self.doc, labels=list(self.labels))
        for values, h in sorted(self.children.copy().items()):
            buckets, total = h.buckets()
            family.add_metric(list(values), buckets, total)
        yield family
