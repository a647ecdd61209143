"""What one group commit writes: plain row dicts, grouped by table and kind of change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


@dataclass
class Changes:
    counters: dict[str, int] = field(default_factory=dict)
    job_inserts: list[Row] = field(default_factory=list)
    job_updates: list[Row] = field(default_factory=list)  # JOB_HOT columns only (and ``id``)
    job_respecs: list[Row] = field(default_factory=list)  # whole rows: the spec changed too
    job_deletes: list[int] = field(default_factory=list)
    sub_inserts: list[Row] = field(default_factory=list)
    sub_updates: list[Row] = field(default_factory=list)
    sub_deletes: list[tuple[int, int]] = field(default_factory=list)
    work_inserts: list[Row] = field(default_factory=list)
    work_updates: list[Row] = field(default_factory=list)
    host_inserts: list[Row] = field(default_factory=list)
    host_updates: list[Row] = field(default_factory=list)
    host_deletes: list[str] = field(default_factory=list)  # names of hosts forgotten
    events: list[Row] = field(default_factory=list)
    callback_inserts: list[Row] = field(default_factory=list)
    callback_updates: list[Row] = field(default_factory=list)
    callback_deletes: list[int] = field(default_factory=list)
    run_inserts: list[Row] = field(default_factory=list)
    run_updates: list[Row] = field(default_factory=list)
    timer_upserts: list[Row] = field(default_factory=list)  # insert or replace, by key
    timer_deletes: list[str] = field(default_factory=list)
    schedule_upserts: list[Row] = field(default_factory=list)  # insert or replace, by id
    schedule_deletes: list[int] = field(default_factory=list)
    resource_upserts: list[Row] = field(default_factory=list)  # insert or replace, by name
    resource_deletes: list[str] = field(default_factory=list)
    # retention: finished jobs to delete with everything of theirs, and the time before which
    # events and callback runs of no job go
    purge_jobs: list[int] = field(default_factory=list)
    purge_before: float | None = None

    def empty(self) -> bool:
        return not any(
            (
                self.counters,
                self.job_inserts,
                self.job_updates,
                self.job_respecs,
                self.job_deletes,
                self.sub_inserts,
                self.sub_updates,
                self.sub_deletes,
                self.work_inserts,
                self.work_updates,
                self.host_inserts,
                self.host_updates,
                self.host_deletes,
                self.events,
                self.callback_inserts,
                self.callback_updates,
                self.callback_deletes,
                self.run_inserts,
                self.run_updates,
                self.timer_upserts,
                self.timer_deletes,
                self.schedule_upserts,
                self.schedule_deletes,
                self.resource_upserts,
                self.resource_deletes,
                self.purge_jobs,
                self.purge_before is not None,
            )
        )
