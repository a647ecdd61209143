"""Rows of the store turned into the API's response models."""

from __future__ import annotations

import json
from typing import Any

from triggerfish.api import schemas as s
from triggerfish.model.status import TALLY_KEYS, aggregate, attempts, tally_of


def _tally(raw: dict[str, int] | None) -> dict[str, int]:
    raw = raw or {}
    return {k: int(raw.get(k, 0)) for k in TALLY_KEYS}


def job_summary(r: dict[str, Any]) -> s.JobSummary:
    return s.JobSummary(
        id=r["id"], name=r["name"], label=r["label"], pgrp=r["pgrp"], pid=r["pid"],
        user=r["user"], priority=r["priority"], status=r["status"], prototype=r["prototype"],
        cpus=r["cpus"], reason=r["reason"], stuck=r.get("stuck", ""), todo=r["todo"],
        todotally=_tally(r["todotally"]),
        timesubmit=r["timesubmit"], timestart=r["timestart"], timecomplete=r["timecomplete"],
    )  # fmt: skip


SUMMARY_FIELDS = tuple(s.JobSummary.model_fields)


def job_list_json(rows: list[dict[str, Any]]) -> bytes:
    """``{"jobs": [summary, ...]}`` encoded straight from store rows."""
    out = []
    for r in rows:
        d = {k: r.get(k, "") if k == "stuck" else r[k] for k in SUMMARY_FIELDS if k != "todotally"}
        d["todotally"] = _tally(r["todotally"])
        out.append(d)
    return json.dumps({"jobs": out}, separators=(",", ":")).encode()


def may_be_stuck(r: dict[str, Any]) -> bool:
    """Whether a job row may be one that cannot finish (``engine.stuck`` tells): blocked, or
    active with blocked work."""
    if r["status"] == "blocked":
        return True
    return r["status"] in ("pending", "running") and bool((r["todotally"] or {}).get("blocked"))


def work_info(r: dict[str, Any]) -> s.WorkInfo:
    return s.WorkInfo(
        id=f"{r['job_id']}:{r['name']}", job=r["job_id"], pid=r["job_id"], name=r["name"],
        seq=r["seq"], status=r["status"], subid=r["subid"], host=r["host"], retry=r["retry"],
        count=attempts(r["retry"], r["status"], r["timestart"]), exit_code=r["exit_code"],
        result=r["result"] or {}, resultpackage=r["result"] or {}, timestart=r["timestart"],
        timecomplete=r["timecomplete"], package=r.get("package") or {},
    )  # fmt: skip


def subjob_info(r: dict[str, Any]) -> s.SubjobInfo:
    return s.SubjobInfo(
        id=f"{r['job_id']}.{r['subid']}", subid=r["subid"], pid=r["job_id"], status=r["status"],
        host=r["host"], retry=r["retry"], count=attempts(r["retry"], r["status"], r["timestart"]),
        work=r["work"], timestart=r["timestart"], timecomplete=r["timecomplete"],
    )  # fmt: skip


def job_detail(r: dict[str, Any]) -> s.JobDetail:
    base = job_summary(r).model_dump()
    cpustally = tally_of([x["status"] for x in r["subjobs"]])
    return s.JobDetail(
        **base,
        lastupdate=r.get("lastupdate"),
        cpustally=cpustally,
        subjobstatus=aggregate(cpustally),
        agendastatus=aggregate(base["todotally"]) if r["todo"] else "",
        package=r["package"] or {},
        fields=r["fields"] or {},
        subjobs=[subjob_info(x) for x in r["subjobs"]],
        agenda=[work_info(x) for x in r["agenda"]],
        agenda_truncated=len(r["agenda"]) < (r["todo"] or 0),
    )


def event_info(r: dict[str, Any]) -> s.EventInfo:
    return s.EventInfo(
        seq=r["seq"], time=r["time"], name=r["name"], type=r["type"], job=r["job"],
        subid=r["subid"], work=r["work"], host=r["host"], data=r["data"] or {},
    )  # fmt: skip


def host_info(r: dict[str, Any], used: int) -> s.HostInfo:
    return s.HostInfo(
        name=r["name"], state=r["state"], slots=r["slots"], used=used,
        properties=r["properties"] or {}, groups=r["groups"] or [], cluster=r["cluster"],
        last_seen=r["last_seen"], registered=r["registered"],
        locked=r.get("locked_at") is not None, locked_by=r.get("locked_by"),
        locked_at=r.get("locked_at"), jobtypes=r.get("jobtypes") or [],
    )  # fmt: skip
