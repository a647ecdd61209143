"""What every route needs: the store, the engine, the hub of long polls, the log store, the
universal callbacks and the
tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from triggerfish.callbacks.universal import UniversalCallbacks
from triggerfish.engine.loop import Engine
from triggerfish.meters import Meters
from triggerfish.server.auth import Authority
from triggerfish.server.hub import Hub
from triggerfish.server.logs import LogStore
from triggerfish.settings import ServerSettings
from triggerfish.store.store import Store


@dataclass
class Ctx:
    settings: ServerSettings
    store: Store
    engine: Engine
    hub: Hub
    logs: LogStore
    universal: UniversalCallbacks
    auth: Authority
    meters: Meters = field(default_factory=Meters)  # the metrics (GET /metrics)


def ctx(request: Request) -> Ctx:
    c: Ctx = request.app.state.ctx
    return c
