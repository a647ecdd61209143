"""``GET /metrics``: the supervisor's Prometheus metrics (docs/metrics.md).

The counts (jobs, agenda items and tasks by status, hosts by state) are read when Prometheus
scrapes, not kept as the engine works, so they cannot drift from what the API answers:

- hosts from the engine's memory, which holds every host (the API's host list shows the same
  state: the engine's view is newer than the stored row);
- jobs, tasks and items from the store with one grouped statement (``reads.status_counts``):
  the engine keeps only unfinished jobs in memory, and the API reads its lists from the store.

Everything else is observed as it happens (``triggerfish.meters``). A read token is enough to
scrape (any known token, as for the API's reads); with ``--metrics-public`` no token is asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from triggerfish.auth.tokens import bearer
from triggerfish.engine.loop import Engine
from triggerfish.errors import TriggerfishError, Unauthorized
from triggerfish.model.status import JOB_STATUSES, TALLY_KEYS, HostState
from triggerfish.server.context import ctx
from triggerfish.store import reads

logger = logging.getLogger(__name__)
PATH = "/metrics"
router = APIRouter()
HOST_STATES = tuple(s.value for s in HostState)
JOB_ORDER = tuple(s for s in TALLY_KEYS if s in JOB_STATUSES)


def _gauge(
    name: str, doc: str, label: str, counts: Mapping[str, int], known: Iterable[str]
) -> GaugeMetricFamily:
    """One sample per known value (0 when there is none: a series does not vanish), then any
    other value met."""
    family = GaugeMetricFamily(name, doc, labels=[label])
    for value in (*known, *sorted(set(counts) - set(known))):
        family.add_metric([value], counts.get(value, 0))
    return family


class FarmCollector(Collector):
    """The gauges of the farm, read at each scrape (on a worker thread: it reads the store)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Metric]:
        try:
            counts = reads.status_counts(self.engine.store.engine)
        except TriggerfishError as exc:  # the store is down: the other metrics still answer
            logger.warning("metrics: the store's counts cannot be read: %s", exc.message,
                           extra={"action": "metrics.store"})  # fmt: skip
        else:
            yield _gauge("triggerfish_jobs", "Jobs by status (tasks included).", "status",
                         counts["jobs"], JOB_ORDER)  # fmt: skip
            yield _gauge("triggerfish_work_items", "Agenda items of every job, by status.",
                         "status", counts["items"], TALLY_KEYS)  # fmt: skip
            yield _gauge("triggerfish_tasks", "Tasks (jobs of prototype task), by status.",
                         "status", counts["tasks"], JOB_ORDER)  # fmt: skip
        # (a list of the values first: the engine thread may add a host meanwhile)
        states = Counter(h.state for h in list(self.engine.state.hosts.values()))
        yield _gauge("triggerfish_hosts", "Worker hosts by state.", "state", states, HOST_STATES)
        pools = list(self.engine.state.resources.values())
        yield _gauge("triggerfish_resource_total", "Global resources (licenses): their totals.",
                     "resource", {g.name: g.total for g in pools}, ())  # fmt: skip
        yield _gauge("triggerfish_resource_used",
                     "Global resources (licenses): what running instances use.",
                     "resource", {g.name: g.used for g in pools}, ())  # fmt: skip


def _refusal(request: Request) -> JSONResponse | None:
    """The 401 the API answers without a known token (``auth.TokenAuth``), or None."""
    token = bearer(request.headers.get("authorization"))
    if token and ctx(request).auth.authenticate(token) is not None:
        return None
    why = "no API token given" if token is None else "unknown API token"
    err = Unauthorized(f"{why} (send 'Authorization: Bearer TOKEN'; see docs/security.md)",
                       field="token")  # fmt: skip
    return JSONResponse({"error": err.to_dict()}, status_code=401,
                        headers={"www-authenticate": "Bearer"})  # fmt: skip


@router.get(PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The metrics in Prometheus' text format: any known token, or none with
    ``--metrics-public``."""
    c = ctx(request)
    if not c.settings.metrics_public:
        refused = _refusal(request)
        if refused is not None:
            return refused
    body = await asyncio.to_thread(generate_latest, c.meters.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
