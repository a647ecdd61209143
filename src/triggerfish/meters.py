"""The Prometheus meters of one supervisor: what the engine and the HTTP server observe as they
work, kept in a registry of their own (never prometheus_client's global one: one process may
hold several supervisors, as the tests do).

Observed where it happens, once each:

- the engine, per batch (``Engine._apply``): the commands of the batch, the store's commit time
  and the events it committed (by type);
- the engine's state, per assignment (``State.assigned``): how long the item (or instance) was
  runnable before it was handed to a host;
- the engine's timers (``timers.fire_due``, ``workers.fire_retries``): how late each fired;
- callback runs, as each ends (a qube callback in the engine, the others in the runner pool);
- every HTTP answer (``server.timing``), by route template.

The counts of jobs, items, tasks and hosts are not kept here: ``server.metrics`` reads them at
scrape time, so they cannot drift from what the API says. What the hot paths cost: the
histograms observed per batch, per assignment and per HTTP answer are ``hotmeters``' (one
writer, no lock: a bisection and two additions); the events of a batch are counted into a
plain dict. Both are read at scrape time. The rare ones (timers, callback runs, the latter
from the runners' threads) are prometheus_client's own, thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from triggerfish import __version__
from triggerfish.hotmeters import Hist, HistFamily

# seconds: from a fraction of a millisecond (a commit, a fast-path answer) up
FAST = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
        1.0, 2.5, 5.0)  # fmt: skip
# (long polls wait up to a minute)
HTTP = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        30.0, 60.0)  # fmt: skip
# seconds an item waits in the queue: milliseconds on an idle farm, hours on a busy one
WAIT = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0)  # fmt: skip
LATE = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0,
        3600.0)  # fmt: skip
BATCH = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _Events(Collector):
    """``triggerfish_events_total{type}``, from the engine's plain counts (a dict the engine
    adds to under its lock; copied whole here, which the GIL keeps consistent)."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "triggerfish_events", "Events the engine committed, by type.", labels=["type"]
        )
        for kind, n in sorted(self.counts.copy().items()):
            family.add_metric([kind], n)
        yield family


class Meters:
    """The meters of one supervisor, in ``registry`` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.events: dict[str, int] = {}
        r.register(_Events(self.events))
        # observed by the engine, under its lock
        self.commit_seconds = self._hot(
            "triggerfish_commit_seconds", "Wall time of the engine's store commits.", FAST
        ).child()
        self.batch_size = self._hot(
            "triggerfish_engine_batch_size", "Commands applied per engine batch.", BATCH
        ).child()
        self.dispatch_latency = self._hot(
            "triggerfish_dispatch_latency_seconds",
            "From an item (or instance) becoming runnable to its assignment to a host.",
            WAIT,
        ).child()
        self.timer_lateness = Histogram(
            "triggerfish_timer_lateness_seconds",
            "How late a timer (time trigger, time limit, recurring task, retry delay) fired.",
            ["kind"], buckets=LATE, registry=r,
        )  # fmt: skip
        self.callback_runs = Counter(
            "triggerfish_callback_runs", "Callback runs ended, by language and result.",
            ["language", "result"], registry=r,
        )  # fmt: skip
        # observed on the server's event loop
        self.http = self._hot(
            "triggerfish_http_request_duration_seconds",
            "HTTP requests by route template, method and status code: from the request to "
            "the end of its answer.",
            HTTP,
            ["route", "method", "code"],
        )
        self._http: dict[tuple[str, str, int], Hist] = {}  # the labelled children, at hand
        Info("triggerfish_build", "The supervisor's version.", registry=r).info(
            {"version": __version__}
        )

    def _hot(
        self, name: str, doc: str, bounds: Sequence[float], labels: Sequence[str] = ()
    ) -> HistFamily:
        """A histogram of ``hotmeters`` (one writer at a time), in the registry."""
        family = HistFamily(name, doc, bounds, labels)
        self.registry.register(family)
        return family

    def batch(self, commands: int, events: Sequence[dict[str, Any]], commit: float | None) -> None:
        """An engine batch of ``commands`` committed ``events`` in ``commit`` seconds (None:
        it had nothing to write)."""
        self.batch_size.observe(commands)
        if commit is not None:
            self.commit_seconds.observe(commit)
        counts = self.events
        for e in events:
            kind = e["type"]
            counts[kind] = counts.get(kind, 0) + 1

    def assigned(self, waited: float) -> None:
        self.dispatch_latency.observe(waited)

    def timer_fired(self, kind: str, late: float) -> None:
        self.timer_lateness.labels(kind).observe(max(0.0, late))

    def callback_ran(self, language: str, result: str) -> None:
        self.callback_runs.labels(language, result).inc()

    def request(self, route: str, method: str, code: int, seconds: float) -> None:
        """An HTTP answer (``route``: the route's template, or "other")."""
        if method not in METHODS:
            method = "other"
        key = (route, method, code)
        child = self._http.get(key)
        if child is None:
            child = self._http[key] = self.http.child(route, method, str(code))
        child.observe(seconds)
