"""The open runnable jobs: what dispatch walks, most urgent first, and split by dispatch class.

*Open*: runnable, but not known to have no idle instance (``State.busy``) nor to wait for a
global resource (``State.unlicensed``). The jobs of one dispatch class
(:meth:`JobRT.dispatch_class`: the same ``requirements``, ``reservations`` and ``hostorder``,
nothing else that places them) may run on a host, and fit there, alike: dispatch decides once
per class and host, and skips a class it cannot start there in one step instead of job by
job. Jobs with no class (hosts, groups, cluster, avoided hosts) are a class of their own
(key ``None``) that is walked job by job.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator

from triggerfish.engine.hostfacts import facts_now, meets
from triggerfish.engine.objects import DispatchClass, HostRT, JobRT

Key = DispatchClass | None
IdleMark = tuple["OpenJobs", frozenset[Key], dict[str, object]]
Urgency = tuple[int, int]


def urgency(job: JobRT) -> Urgency:
    """The dispatch order: lower priority number first, then older (lower id)."""
    return (job.priority, job.id)


def _insert(jobs: list[JobRT], job: JobRT) -> None:
    i = bisect.bisect_left(jobs, urgency(job), key=urgency)
    if i >= len(jobs) or jobs[i] is not job:
        jobs.insert(i, job)


def _remove(jobs: list[JobRT], job: JobRT) -> bool:
    i = bisect.bisect_left(jobs, urgency(job), key=urgency)
    if i < len(jobs) and jobs[i] is job:
        del jobs[i]
        return True
    return False


class OpenJobs:
    """The open jobs, most urgent first (``all``), and the same jobs by class (``classes``).
    A job is filed under its class as it was when added (``JobRT.open_key``): a change of its
    fields reorders all (``State.reorder``), a change of the hosts it avoids files it again
    (``State.refile``). The jobs of a class in ``short`` are walked over in one step."""

    __slots__ = ("all", "classes", "short")

    def __init__(self, jobs: Iterable[JobRT]) -> None:  # (most urgent first)
        self.all = list(jobs)
        self.classes: dict[Key, list[JobRT]] = {}
        for job in self.all:
            key = job.open_key = job.dispatch_class()
            self.classes.setdefault(key, []).append(job)
        # classes found waiting for a global resource (``State.mark_unlicensed``): all their
        # jobs ask for the same, so none starts anywhere until one is given back
        self.short: set[DispatchClass] = set()

    def add(self, job: JobRT) -> None:
        _insert(self.all, job)
        key = job.open_key = job.dispatch_class()
        _insert(self.classes.setdefault(key, []), job)

    def unshort(self) -> None:
        """A global resource was given back: no class is known short any more."""
        self.short.clear()

    def idle_mark(self, host: HostRT) -> IdleMark:
        """What ``host``'s dispatch found nothing in: these jobs, the classes open then (not
        short), and the host's facts (see :meth:`still_idle`)."""
        return (self, frozenset(self.classes.keys() - self.short), facts_now(host))

    def still_idle(self, host: HostRT) -> bool:
        """Whether ``host`` would find nothing again: its facts are the same, and no class is
        open now that was not when it found nothing (a job added to a class it found nothing
        in is alike). Not so when some open job is placed by more than its class
        (:meth:`ordered`): the caller asks that first."""
        mark = host.idle
        if mark is None or mark[0] is not self or mark[2] is not facts_now(host):
            return False
        return bool(self.classes.keys() - self.short <= mark[1])

    def ordered(self) -> bool:
        """Whether some open job is placed by more than its class (hosts, groups, avoided
        hosts: class None) or by ``hostorder`` (the state of other hosts)."""
        return any(key is None or key[2] for key in self.classes)

    def drop(self, job: JobRT) -> None:
        if not _remove(self.all, job):
            return
        jobs = self.classes.get(job.open_key)
        if jobs is not None:
            _remove(jobs, job)
            if not jobs:
                del self.classes[job.open_key]


def _off(key: DispatchClass, host: HostRT | None) -> bool:
    """Whether ``host`` does not offer the job type of class ``key`` or does not meet its
    requirements (as it is now)."""
    if host is None:
        return False
    if key[3] and key[3] not in host.jobtypes:
        return True
    return bool(key[0]) and not meets(host, key[0])


class Walk(Iterator[JobRT]):
    """The open jobs in dispatch order, merged from their classes; a class found in ``skip``
    (the caller's set of classes that cannot start on the host at hand) or ``short`` is passed
    over from there on, until :meth:`reopen`; so is, from the start, a class whose
    requirements ``host`` does not meet. The lists may change during the walk: each step
    looks the next job up again after the last one given, so a job dropped meanwhile is not
    given."""

    def __init__(
        self, jobs: OpenJobs, skip: set[DispatchClass], host: HostRT | None = None
    ) -> None:
        self.jobs = jobs
        self.skip = skip
        self.at: Urgency | None = None  # the last job given
        # (urgency, index in its class's list when pushed, class) of each class's next job
        self.heap: list[tuple[Urgency, int, Key]] = []
        self.parked: list[Key] = []  # classes passed over
        short = jobs.short
        for key, listed in jobs.classes.items():
            if key is not None and (key in skip or key in short or _off(key, host)):
                self.parked.append(key)
            elif listed:
                self.heap.append((urgency(listed[0]), 0, key))
        heapq.heapify(self.heap)

    def _push(self, key: Key, listed: list[JobRT], i: int) -> None:
        """Queue the class's next job: at ``i`` (after the last one given, or 0 at first)."""
        if i < len(listed):
            heapq.heappush(self.heap, (urgency(listed[i]), i, key))

    def reopen(self) -> None:
        """The classes passed over may start here again: they go on after the last job."""
        parked, self.parked = self.parked, []
        for key in parked:
            listed = self.jobs.classes.get(key)
            if listed:
                i = 0 if self.at is None else bisect.bisect_right(listed, self.at, key=urgency)
                self._push(key, listed, i)

    def __next__(self) -> JobRT:
        classes, skip, short = self.jobs.classes, self.skip, self.jobs.short
        while self.heap:
            u, i, key = heapq.heappop(self.heap)
            if key is not None and (key in skip or key in short):
                self.parked.append(key)
                continue
            listed = classes.get(key)
            if not listed:
                continue
            if i >= len(listed) or urgency(listed[i]) != u:  # (the list changed meanwhile)
                i = bisect.bisect_left(listed, u, key=urgency)
            self.at = u
            if i < len(listed) and urgency(listed[i]) == u:
                self._push(key, listed, i + 1)
                return listed[i]
            self._push(key, listed, i)  # (it was dropped: ``i`` is the one after it now)
        raise StopIteration
