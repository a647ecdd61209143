"""A small harness that drives the real engine (real store, real engine thread) without HTTP.

Every engine test builds one ``Farm`` on the ``db_url`` fixture, so it runs on SQLite and on
PostgreSQL. Reads go to the database through ``triggerfish.store.reads``: the DB is the truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from triggerfish.api import schemas as s
from triggerfish.engine import control as ctl
from triggerfish.engine import submit as sub
from triggerfish.engine import workers as wk
from triggerfish.engine.loop import Engine
from triggerfish.model.jobspec import parse_jobs
from triggerfish.store import reads
from triggerfish.store.store import Store

T = TypeVar("T")


def job(
    frames: str | list[Any] | None = "1-4", *, cmd: str = "echo $QB_FRAME_NUMBER", **fields: Any
) -> dict[str, Any]:
    """A job dict: a cmdrange over ``frames`` (a range string or an explicit agenda list)."""
    out: dict[str, Any] = {"package": {"cmdline": cmd}}
    if isinstance(frames, str):
        out["package"]["range"] = frames
    elif frames is not None:
        out["agenda"] = frames
    out.update(fields)
    return out


class Farm:
    """The engine plus a few fake workers (hosts) that pull and report by hand."""

    def __init__(self, url: str, *, host_timeout: float = 30.0) -> None:
        self.url = url
        self.host_timeout = host_timeout
        self.sessions: dict[str, str] = {}
        self.inbox: dict[str, list[s.Assignment]] = {}
        self.held: dict[str, dict[str, s.Assignment]] = {}  # what each fake worker runs
        self.store: Store | None = None
        self.eng: Engine | None = None
        self.start()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.store = Store(self.url)
        self.eng = Engine(self.store, host_timeout=self.host_timeout)
        self.eng.start()

    def stop(self) -> None:
        if self.eng is not None:
            self.eng.stop()
            self.eng = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def db(self) -> Any:
        assert self.store is not None
        return self.store.engine

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        assert self.eng is not None
        return self.eng.run_sync(fn, *args, timeout=30.0)

    # ------------------------------------------------------------------ users

    def submit(self, *jobs: dict[str, Any], user: str = "alice") -> s.SubmitResponse:
        return self.run(sub.submit, parse_jobs(list(jobs)), user)

    def control(
        self, action: s.Action, *targets: str | int, fields: dict[str, Any] | None = None
    ) -> s.ControlResponse:
        req = s.ControlRequest(
            action=action, targets=[str(t) for t in targets], fields=fields or {}
        )
        return self.run(ctl.control, req)

    # ------------------------------------------------------------------ workers

    def register(self, name: str, slots: int = 1, **kw: Any) -> str:
        reg = self.run(wk.register, s.RegisterRequest(name=name, slots=slots, **kw))
        self.sessions[name] = reg.session
        self.held[name] = {}
        self.inbox.pop(name, None)
        return str(reg.session)

    def pull(
        self, host: str, running: list[str] | None = None, session: str | None = None
    ) -> s.PullResponse:
        """Pull as a worker would: listing what it holds (unless ``running`` is given).

        The answer's assignments are preceded by those that came with report answers since the
        last pull, so a test sees every assignment the host was handed, once.
        """
        held = self.held.setdefault(host, {})
        listed = list(held) if running is None else running
        req = s.PullRequest(session=session or self.sessions[host], running=listed, wait=0)
        resp = self.run(wk.pull, host, req)
        for token in resp.cancel:
            held.pop(token, None)
        for a in resp.assignments:
            held[a.token] = a
        inbox = self.inbox.pop(host, [])
        if inbox:
            resp.assignments = inbox + resp.assignments
        return resp

    def report(
        self,
        host: str,
        token: str,
        status: Literal["complete", "failed"] = "complete",
        exit_code: int | None = None,
        session: str | None = None,
        **kw: Any,
    ) -> s.ReportResponse:
        if exit_code is None:
            exit_code = 0 if status == "complete" else 1
        rep = s.Report(token=token, status=status, exit_code=exit_code, **kw)
        req = s.ReportRequest(session=session or self.sessions[host], reports=[rep])
        resp = self.run(wk.report, host, req)
        held = self.held.setdefault(host, {})
        held.pop(token, None)
        for a in resp.assignments:
            held[a.token] = a
        self.inbox.setdefault(host, []).extend(resp.assignments)
        return resp

    def run_all(self, host: str, limit: int = 200) -> int:
        """Pull and complete everything ``host`` is given until it gets nothing; returns count."""
        done = 0
        for _ in range(limit):
            got = list(self.held.get(host, {}).values())
            self.inbox.pop(host, None)
            got += [a for a in self.pull(host).assignments if a not in got]
            if not got:
                return done
            for a in got:
                self.report(host, a.token)
                done += 1
        raise AssertionError("run_all: work never ran out")

    # ------------------------------------------------------------------ reads (the DB)

    def job(self, job_id: int) -> dict[str, Any]:
        row = reads.get_job(self.db, job_id)
        assert row is not None, f"job {job_id} is not stored"
        return row

    def status(self, job_id: int) -> str:
        return str(self.job(job_id)["status"])

    def work(self, job_id: int, name: str) -> dict[str, Any]:
        row = reads.get_work(self.db, job_id, name)
        assert row is not None, f"work {job_id}:{name} is not stored"
        return row

    def work_statuses(self, job_id: int) -> dict[str, str]:
        return {w["name"]: w["status"] for w in self.job(job_id)["agenda"]}

    def events(self, job: int | None = None, after: int = 0) -> list[dict[str, Any]]:
        return reads.list_events(self.db, job=job, after=after, limit=100_000)

    def names(
        self,
        job: int | None = None,
        type_: str | None = None,
        work: str | None = None,
        after: int = 0,
    ) -> list[str]:
        """Event names, in order, filtered by job, type and work item."""
        return [
            e["name"]
            for e in self.events(job, after)
            if (type_ is None or e["type"] == type_) and (work is None or e["work"] == work)
        ]

    def last_seq(self) -> int:
        evs = self.events()
        return evs[-1]["seq"] if evs else 0

    def snapshot(self) -> dict[Any, Any]:
        """Everything stored about jobs, work, subjobs and events (to prove nothing changed)."""
        jobs = reads.list_jobs(self.db)
        out: dict[Any, Any] = {"events": len(self.events())}
        for j in jobs:
            full = self.job(j["id"])
            full.pop("lastupdate", None)
            out[j["id"]] = full
        return out


# ---------------------------------------------------------------------- lookahead workers


def pull_ahead(
    farm: Farm,
    host: str,
    ahead: int = 8,
    running: list[str] | None = None,
    queued: list[str] | None = None,
) -> s.PullResponse:
    req = s.PullRequest(
        session=farm.sessions[host], running=running or [], queued=queued or [], wait=0,
        ahead=ahead,
    )  # fmt: skip
    return farm.run(wk.pull, host, req)


def report_ahead(
    farm: Farm,
    host: str,
    *tokens: str,
    seconds: float = 0.002,
    ahead: int = 8,
    status: str = "complete",
    release: list[str] | None = None,
) -> s.ReportResponse:
    reps = [
        s.Report(
            token=t, status=status, exit_code=0 if status == "complete" else 1, seconds=seconds
        )  # type: ignore[arg-type]
        for t in tokens
    ]
    req = s.ReportRequest(
        session=farm.sessions[host], reports=reps, release=release or [], ahead=ahead
    )
    return farm.run(wk.report, host, req)


def wait_until(pred: Callable[[], bool], timeout: float = 10.0, every: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(every)
    return pred()
