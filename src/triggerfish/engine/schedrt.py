"""The engine's recurring-task schedules in memory, and the rows a commit writes for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from triggerfish.model.tasks import TaskRequest
from triggerfish.store.changes import Row


@dataclass(slots=True)
class ScheduleRT:
    id: int
    target: str
    key: str
    user: str
    params: Any
    encoding: str
    options: dict[str, Any]
    every: float
    start: float
    policy: str
    paused: bool = False
    created: float = 0.0
    runs: int = 0
    skipped: int = 0
    last_run: float | None = None
    last_job: int | None = None

    def row(self) -> Row:
        return asdict(self)

    @property
    def timer_key(self) -> str:
        return f"schedule:{self.id}"

    def request(self) -> TaskRequest:
        return TaskRequest(
            target=self.target, params=self.params, encoding=self.encoding,  # type: ignore[arg-type]
            **self.options,
        )  # fmt: skip


@dataclass
class Schedules:
    """The schedules, by id and by (target, key), with the rows to write."""

    by_id: dict[int, ScheduleRT] = field(default_factory=dict)
    by_key: dict[tuple[str, str], int] = field(default_factory=dict)
    next_id: int = 1
    version: int = 0
    _dirty: dict[int, ScheduleRT | None] = field(default_factory=dict)

    def load(self, rows: list[Row], last_id: int) -> None:
        self.by_id.clear()
        self.by_key.clear()
        self._dirty.clear()
        for r in rows:
            s = ScheduleRT(**r)
            self.by_id[s.id] = s
            self.by_key[(s.target, s.key)] = s.id
        self.next_id = max([last_id, *self.by_id]) + 1

    def touch(self, s: ScheduleRT) -> None:
        self._dirty[s.id] = s
        self.version += 1

    def put(self, s: ScheduleRT) -> None:
        self.by_id[s.id] = s
        self.by_key[(s.target, s.key)] = s.id
        self.touch(s)

    def delete(self, s: ScheduleRT) -> None:
        del self.by_id[s.id]
        self.by_key.pop((s.target, s.key), None)
        self._dirty[s.id] = None
        self.version += 1

    def take(self) -> tuple[list[Row], list[int]]:
        upserts = [s.row() for s in self._dirty.values() if s is not None]
        deletes = [i for i, s in self._dirty.items() if s is None]
        self._dirty.clear()
        return upserts, deletes
