"""The Python client of the supervisor's HTTP API: plain dicts in, plain dicts out.

>>> with Client() as tf:                                   # doctest: +SKIP
...     [job] = tf.submit({"name": "hello", "package": {"cmdline": "echo hi"}})
...     tf.wait(job["id"])
{12: 'complete'}
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

from triggerfish import __version__
from triggerfish.auth.tokens import find_token
from triggerfish.client.errors import (
    CannotFinish,
    ClientError,
    Unreachable,
    WaitTimeout,
    error_from_response,
    is_transient,
)
from triggerfish.client.lean import LeanPost, usable_for
from triggerfish.client.logs import LogPage
from triggerfish.client.targets import parse_target
from triggerfish.client.watch import JobWatcher
from triggerfish.settings import supervisor_url

JSON = dict[str, Any]
Stream = Literal["stdout", "stderr"]
API = "/api/v1"
WORK_PAGE = 10_000  # agenda items per page read (the supervisor's most)


def _seg(value: object) -> str:
    """One URL path segment (work names may hold any character)."""
    return quote(str(value), safe="")


class Client:
    """A synchronous client with a keep-alive connection pool; use it as a context manager."""

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        data_dir: str | Path | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``token`` None: ``TRIGGERFISH_TOKEN``, else (for a supervisor on this machine) the
        local admin token in the data dir (``data_dir``, else ``TRIGGERFISH_DATA_DIR``, else
        the per-user data dir)."""
        self.url = supervisor_url(url)
        self.token = find_token(token, data_dir, self.url)
        self.timeout = timeout
        headers = {"Accept": "application/json", "User-Agent": f"triggerfish/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )
        # adding tasks one by one is the hot call: a lean keep-alive POST (plain http only)
        self._lean = (
            LeanPost(self.url + API, headers, timeout)
            if transport is None and usable_for(self.url)
            else None
        )
        self.last_warnings: list[str] = []  # warnings of the last submit
        self.last_event_seq: int = 0  # "last" of the last events answer
        self.event_head_seq: int = 0  # "head" (the newest event) of the last events answer

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self._http.close()
        if self._lean is not None:
            self._lean.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._http.request(
                method,
                API + path,
                params=query,
                json=body,
                timeout=self.timeout if timeout is None else timeout,
            )
        except httpx.TimeoutException as exc:
            raise Unreachable(
                f"the supervisor at {self.url} did not answer {method} {path} in time ({exc})"
            ) from exc
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"cannot reach the supervisor at {self.url} ({exc}); is it running? "
                "Start one with 'triggerfish run' or point --url / TRIGGERFISH_URL at it"
            ) from exc
        if resp.is_error:
            raise error_from_response(resp)
        return resp

    def _post_lean(self, path: str, body: Any) -> Any:
        """``POST`` through the lean connection (same errors as ``_json``); httpx without it."""
        if self._lean is None:
            return self._json("POST", path, body=body)
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            status, raw = self._lean.post(path, data)
        except TimeoutError as exc:
            raise Unreachable(
                f"the supervisor at {self.url} did not answer POST {path} in time ({exc})"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(
                f"cannot reach the supervisor at {self.url} ({exc!r}); is it running? "
                "Start one with 'triggerfish run' or point --url / TRIGGERFISH_URL at it"
            ) from exc
        if status >= 400:
            request = httpx.Request("POST", self.url + API + path)
            raise error_from_response(httpx.Response(status, content=raw, request=request))
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ClientError(
                f"the supervisor answered POST {path} with something that is not JSON",
                status=status,
            ) from exc

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._request(method, path, **kwargs)
        try:
            return resp.json()
        except ValueError as exc:
            raise ClientError(
                f"the supervisor answered {method} {path} with something that is not JSON",
                status=resp.status_code,
            ) from exc

    # ------------------------------------------------------------------ jobs

    def submit(self, jobs: list[JSON] | JSON) -> list[JSON]:
        """Submit a job dict or a list of them (one pgrp).

        Returns one dict per job (id, label, pgrp, status, name); warnings go to last_warnings.
        ``after`` may be an aware ``datetime`` (sent as ISO-8601).
        """
        body = [_with_iso_after(j) for j in ([jobs] if isinstance(jobs, dict) else list(jobs))]
        answer = self._json("POST", "/jobs", body=body)
        self.last_warnings = [str(w) for w in answer.get("warnings", [])]
        return list(answer["jobs"])

    def job(self, id: int, agenda: bool = True, agenda_limit: int | None = None) -> JSON:
        """A job's summary, fields, instances and (unless ``agenda=False``) agenda: all of it,
        or its first ``agenda_limit`` items (the supervisor inlines the first 1,000; the rest
        is read a page at a time). ``agenda_truncated`` says whether items were left out."""
        params = {"agenda": "true" if agenda else "false"}
        detail = dict(self._json("GET", f"/jobs/{int(id)}", params=params))
        if not agenda:
            return detail
        items: list[JSON] = list(detail.get("agenda") or [])
        total = max(int(detail.get("todo") or 0), len(items))
        want = total if agenda_limit is None else min(max(agenda_limit, 0), total)
        if detail.get("agenda_truncated") and len(items) < want:
            for page in self.agenda_pages(int(id), offset=len(items)):
                items += page[: want - len(items)]
                if len(items) >= want:
                    break
        detail["agenda"] = items[:want]
        detail["agenda_truncated"] = want < total
        return detail

    def work_page(self, jobid: int, offset: int = 0, limit: int = WORK_PAGE) -> JSON:
        """Items ``offset`` … ``offset + limit - 1`` of a job's agenda: ``{"work": [...],
        "offset", "limit", "total"}`` (``limit`` at most 10,000)."""
        params = {"offset": offset, "limit": limit}
        return dict(self._json("GET", f"/jobs/{int(jobid)}/work", params=params))

    def agenda_pages(self, jobid: int, offset: int = 0,
                     page: int = WORK_PAGE) -> Iterator[list[JSON]]:  # fmt: skip
        """A job's agenda from item ``offset`` on, a page (list of items) at a time."""
        while True:
            batch = list(self.work_page(jobid, offset, page)["work"])
            if batch:
                yield batch
            offset += len(batch)
            if len(batch) < page:
                return

    def agenda(self, jobid: int) -> Iterator[JSON]:
        """Every item of a job's agenda, in order, read a page at a time."""
        for batch in self.agenda_pages(jobid):
            yield from batch

    def jobs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        pgrp: int | None = None,
        label: str | None = None,
        user: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[JSON]:
        """Job summaries, filtered; ``status`` may be a list (sent comma-separated)."""
        if status is not None and not isinstance(status, str):
            status = ",".join(status)
        params = {
            "status": status,
            "pgrp": pgrp,
            "label": label,
            "user": user,
            "name": name,
            "limit": limit,
            "offset": offset,
        }
        return list(self._json("GET", "/jobs", params=params)["jobs"])

    def work(self, jobid: int, name: str) -> JSON:
        """One agenda item, ``jobid:name``."""
        return dict(self._json("GET", f"/jobs/{int(jobid)}/work/{_seg(name)}"))

    # ------------------------------------------------------------------ control

    def control(
        self, action: str, targets: Iterable[int | str], fields: JSON | None = None
    ) -> list[JSON]:
        """Apply a control verb (kill, block, unblock, retry, requeue, remove, modify; the
        dispatch verbs suspend, resume, interrupt, migrate, complete, retire, shove)."""
        names = [str(parse_target(t)) for t in targets]
        if not names:
            raise ClientError(f"{action}: give at least one target")
        body: JSON = {"action": action, "targets": names}
        if fields is not None:
            body["fields"] = fields
        return list(self._json("POST", "/control", body=body)["results"])

    def kill(self, *targets: int | str) -> list[JSON]:
        return self.control("kill", targets)

    def block(self, *targets: int | str) -> list[JSON]:
        return self.control("block", targets)

    def unblock(self, *targets: int | str) -> list[JSON]:
        return self.control("unblock", targets)

    def retry(self, *targets: int | str) -> list[JSON]:
        return self.control("retry", targets)

    def requeue(self, *targets: int | str) -> list[JSON]:
        return self.control("requeue", targets)

    def preempt(self, *targets: int | str) -> list[JSON]:
        """Running items back to pending now, no failed attempt counted (engine.preempt)."""
        return self.control("preempt", targets)

    def remove(self, *targets: int | str) -> list[JSON]:
        return self.control("remove", targets)

    def modify(self, target: int | str, **fields: Any) -> list[JSON]:
        """Change fields of a job (``priority``, ``cpus``, ``name``, ...)."""
        if not fields:
            raise ClientError("modify: give at least one field to change")
        return self.control("modify", [target], fields)

    # ------------------------------------------------------------------ hosts, events, logs

    def health(self) -> JSON:
        """``GET /health`` (no token needed): ``status``, ``version``, ``role`` and
        ``allow_pickle`` (whether the supervisor accepts pickles)."""
        return dict(self._json("GET", "/health"))

    def hosts(self) -> list[JSON]:
        return list(self._json("GET", "/hosts")["hosts"])

    def host_down(self, name: str) -> JSON:
        """Mark host ``name`` down now (admin): its running work goes back to pending."""
        return dict(self._json("POST", f"/hosts/{_seg(name)}/down"))

    def lock_host(self, name: str) -> JSON:
        """Lock host ``name`` (admin): no new work goes to it; what runs finishes."""
        return dict(self._json("POST", f"/hosts/{_seg(name)}/lock"))

    def unlock_host(self, name: str) -> JSON:
        """Unlock host ``name`` (admin): it gets work again."""
        return dict(self._json("POST", f"/hosts/{_seg(name)}/unlock"))

    def resources(self) -> list[JSON]:
        """Every global resource (license pool): ``total``, ``used``, ``available``."""
        return list(self._json("GET", "/resources")["resources"])

    def set_resource(self, name: str, total: int) -> JSON:
        """Define global resource ``name`` or change its total (admin)."""
        return dict(self._json("PUT", f"/resources/{_seg(name)}", body={"total": total}))

    def remove_resource(self, name: str) -> JSON:
        """Forget global resource ``name`` (admin); nothing running may use it."""
        return dict(self._json("DELETE", f"/resources/{_seg(name)}"))

    def remove_host(self, name: str) -> JSON:
        """Forget host ``name`` (admin); it must be down and hold no attempt."""
        return dict(self._json("DELETE", f"/hosts/{_seg(name)}"))

    def events(
        self,
        since: int = 0,
        limit: int = 1000,
        job: int | None = None,
        wait: float = 0,
        type: str | None = None,
        before: int | None = None,
    ) -> list[JSON]:
        """Events with ``seq > since``; ``wait`` long-polls up to that many seconds for one.

        ``type`` keeps only events of these types (``"job"``, or a comma list); ``before`` (a
        seq) reads backwards: the newest ``limit`` below it, oldest first. The answer's
        ``last`` is kept on ``last_event_seq``, its ``head`` on ``event_head_seq``.
        """
        params = {"after": since, "limit": limit, "job": job, "wait": wait or None, "type": type,
                  "before": before}  # fmt: skip
        answer = self._json("GET", "/events", params=params, timeout=self.timeout + wait)
        events = list(answer["events"])
        self.last_event_seq = int(answer.get("last", events[-1]["seq"] if events else since))
        self.event_head_seq = int(answer.get("head", self.last_event_seq))
        return events

    def callbacks(self, jobid: int, runs: int = 1000) -> dict[str, Any]:
        """A job's callbacks (with count and latches) and their last ``runs`` runs."""
        out: dict[str, Any] = self._json("GET", f"/jobs/{int(jobid)}/callbacks",
                                         params={"runs": runs})  # fmt: skip
        return out

    def global_callbacks(self, runs: int = 1000) -> dict[str, Any]:
        """The global callbacks and their last ``runs`` runs."""
        out: dict[str, Any] = self._json("GET", "/callbacks", params={"runs": runs})
        return out

    def universal_callbacks(self, reload: bool = False) -> dict[str, Any]:
        """The supervisor's universal callbacks: ``entries`` (good lines), ``problems`` (bad
        lines, with why), ``dirs``, ``missing``; ``reload`` re-reads every conf first."""
        if reload:
            out: dict[str, Any] = self._json("POST", "/callbacks/universal/reload")
        else:
            out = self._json("GET", "/callbacks/universal")
        return out

    def add_global_callback(
        self, triggers: str, code: str, *, language: str = "python", maximum: int | None = None
    ) -> dict[str, Any]:
        """Add a global (site-wide) callback; returns its id."""
        body: dict[str, Any] = {"triggers": triggers, "language": language, "code": code}
        if maximum is not None:
            body["maximum"] = maximum
        out: dict[str, Any] = self._json("POST", "/callbacks", body=body)
        return out

    def remove_global_callback(self, callback_id: int) -> None:
        self._json("DELETE", f"/callbacks/{int(callback_id)}")

    def all_events(self, since: int = 0, job: int | None = None) -> list[JSON]:
        """Every event after ``since`` (of ``job``), paging through the log."""
        out: list[JSON] = []
        while batch := self.events(since=out[-1]["seq"] if out else since, limit=10_000, job=job):
            out += batch
        return out

    def event_head(self) -> int:
        """The seq of the newest event (0 when there is none): where to start following."""
        self.events(since=0, limit=1)
        return self.event_head_seq

    def log(self, jobid: int, name: str, stream: Stream = "stdout") -> str:
        """The output of agenda item ``jobid:name`` ("" if it started and printed nothing).

        Raises ClientError with ``details["code"]`` ``no_such_job``, ``no_such_item`` or
        ``not_started`` (status 404)."""
        return self._whole_log(jobid, name, None, stream)

    def subjob_log(self, jobid: int, subid: int, stream: Stream = "stdout") -> str:
        """The output of instance ``jobid.subid`` (cmdline jobs); errors as :meth:`log`."""
        return self._whole_log(jobid, None, subid, stream)

    def log_page(
        self,
        jobid: int,
        name: str | None = None,
        subid: int | None = None,
        stream: Stream = "stdout",
        offset: int = 0,
    ) -> LogPage:
        """A page of the output of item ``jobid:name`` or instance ``jobid.subid`` from byte
        ``offset``, with the item's status and where to read on (``client.logs.LogPage``)."""
        if (name is None) == (subid is None):
            raise ClientError("log_page: give the item's name or the instance's subid")
        if name is not None:
            path = f"/jobs/{int(jobid)}/work/{_seg(name)}/log"
        else:
            path = f"/jobs/{int(jobid)}/subjobs/{int(subid or 0)}/log"
        resp = self._request("GET", path, params={"stream": stream, "offset": offset or None})
        return LogPage.of(resp.text, resp.headers, offset)

    def _whole_log(self, jobid: int, name: str | None, subid: int | None, stream: Stream) -> str:
        page = self.log_page(jobid, name, subid, stream)
        parts = [page.text]
        while page.more:
            page = self.log_page(jobid, name, subid, stream, page.end)
            parts.append(page.text)
        return "".join(parts)

    # ------------------------------------------------------------------ tasks

    def add_task(self, body: JSON) -> JSON:
        """``POST /tasks``: ``{"target", "params", ...}`` -> ``{"id", "target", "status"}``."""
        return dict(self._post_lean("/tasks", body))

    def add_tasks(self, bodies: list[JSON]) -> list[JSON]:
        """``POST /tasks/many``: several tasks in one call and one commit, all or nothing."""
        return list(self._post_lean("/tasks/many", {"tasks": list(bodies)})["tasks"])

    def task(self, id: int) -> JSON:
        """A task: status, result (its return value), error and traceback."""
        return dict(self._json("GET", f"/tasks/{int(id)}"))

    def tasks(
        self, status: str | None = None, limit: int | None = None, before: int | None = None
    ) -> list[JSON]:
        """Tasks, newest first (``status``: a comma list, ``active``, ``done``; ``before``: ids
        below it only, the page after one whose last id it is)."""
        params = {"status": status, "limit": limit, "before": before}
        return list(self._json("GET", "/tasks", params=params)["tasks"])

    def remove_task(self, id: int) -> None:
        self._json("DELETE", f"/tasks/{int(id)}")

    def add_schedule(self, body: JSON) -> JSON:
        """``POST /schedules``: add (or replace, by target and key) a recurring task."""
        return dict(self._json("POST", "/schedules", body=body))

    def schedules(self) -> list[JSON]:
        """Recurring tasks with their next run, last run and last result."""
        return list(self._json("GET", "/schedules")["schedules"])

    def schedule(self, id: int) -> JSON:
        return dict(self._json("GET", f"/schedules/{int(id)}"))

    def schedule_action(self, id: int, action: Literal["pause", "resume"]) -> JSON:
        return dict(self._json("POST", f"/schedules/{int(id)}/{action}"))

    def remove_schedule(self, id: int) -> None:
        self._json("DELETE", f"/schedules/{int(id)}")

    # ------------------------------------------------------------------ users (admin)

    def users(self) -> list[JSON]:
        """Users and worker tokens: name, kind, permissions, created (never tokens)."""
        return list(self._json("GET", "/users"))

    def add_user(self, name: str, permissions: Iterable[str] = (), *, worker: bool = False) -> JSON:
        """A new user (or worker token); the answer's ``token`` is shown this once."""
        body = {"name": name, "permissions": list(permissions), "worker": worker}
        return dict(self._json("POST", "/users", body=body))

    def remove_user(self, name: str) -> None:
        self._json("DELETE", f"/users/{_seg(name)}")

    def new_token(self, name: str) -> JSON:
        """A new token for ``name`` (the old one stops working); ``token`` is shown once."""
        return dict(self._json("POST", f"/users/{_seg(name)}/token"))

    # ------------------------------------------------------------------ waiting

    def wait(
        self,
        ids: int | Iterable[int],
        timeout: float | None = None,
        poll: float = 0.5,
        notify: Callable[[str], None] | None = None,
    ) -> dict[int, str]:
        """Block until every job is complete, failed or killed; return ``{id: status}``.

        Woken by the events long-poll; ``poll`` is the interval of plain polling when the
        supervisor offers no events. A job removed meanwhile ends as ``"removed"``. While the
        supervisor is unreachable (a restart) the wait goes on, retrying with backoff;
        ``notify`` is told when it goes and when it is back (default: a warning of the
        ``triggerfish.client`` logger, on stderr unless logging is configured).

        Raises CannotFinish when the jobs not ended can no longer finish by themselves (blocked
        behind a failed upstream, or a job that does not exist), naming each and why; and
        WaitTimeout (a TimeoutError) after ``timeout`` seconds.
        """
        watcher = JobWatcher(self, [ids] if isinstance(ids, int) else ids, poll=poll,
                             notify=notify)  # fmt: skip
        deadline = None if timeout is None else time.monotonic() + timeout
        watcher.deadline = deadline
        try:
            return self._wait(watcher, timeout, deadline)
        except ClientError as exc:
            if not is_transient(exc) or deadline is None:
                raise
            raise WaitTimeout(
                f"jobs still not finished after {timeout:g} s, and the supervisor at "
                f"{self.url} does not answer ({exc.message})",
                statuses=watcher.statuses(),
            ) from exc

    def _wait(
        self, watcher: JobWatcher, timeout: float | None, deadline: float | None
    ) -> dict[int, str]:
        watcher.start()
        while True:
            watcher.refresh()
            if watcher.settled:
                if watcher.stuck:
                    raise CannotFinish(watcher.stuck, watcher.statuses())
                return watcher.statuses()
            remaining = 60.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                pending = {i: s for i, s in watcher.statuses().items() if s not in watcher.ENDED}
                raise WaitTimeout(
                    f"jobs still not finished after {timeout:g} s: "
                    + ", ".join(f"{i} ({s})" for i, s in pending.items()),
                    statuses=watcher.statuses(),
                )
            watcher.wait_for_change(min(remaining, 60.0), only_ends=True)


def _with_iso_after(job: JSON) -> JSON:
    after = job.get("after") if isinstance(job, dict) else None
    if not isinstance(after, datetime):
        return job
    if after.utcoffset() is None:
        raise ClientError("after: a datetime needs a zone (tzinfo), e.g. datetime.now(UTC)")
    return {**job, "after": after.isoformat()}
