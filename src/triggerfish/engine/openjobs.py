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

    __slots__ = ("all", "classes", "gen", "short")

    def __init__(self, jobs: Iterable[JobRT]) -> None:  # (most urgent first)
        self.all = list(jobs)
        self.classes: dict[Key, list[JobRT]] = {}
        for job in self.all:
            key = job.open_key = job.dispatch_class()
            self.classes.setdefault(key, []).append(job)
        # classes found waiting for a global resource (``State.mark_unlicensed``): all their
        # jobs ask for the same, so none starts anywhere until one is given back
        self.short: set[DispatchClass] = set()
        # counts what may have opened a chance for a host that found nothing: a job added,
        # classes no longer short (:meth:`idle_mark`)
        self.gen = 0

    def add(self, job: JobRT) -> None:
        self.gen += 1
        _insert(self.all, job)
        key = job.open_key = job.dispatch_class()
        _insert(self.classes.setdefault(key, []), job)

    def unshort(self) -> None:
        """A global resource was given back: no class is known short any more."""
        if self.short:
            self.short.clear()
            self.gen += 1

    def idle_mark(self, host: HostRT) -> tuple[object, ...]:
        """What ``host``'s dispatch found nothing in: these jobs as they are (``gen``) and the
        host's facts. A host whose mark is the same again would find nothing again, unless a
        job's ``hostorder`` or placement fields weigh other hosts (then no mark holds)."""
        return (self, self.gen, facts_now(host))

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
