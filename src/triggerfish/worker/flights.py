"""Flight checks on the worker: which programs run around a command, and in what order.

For an assignment whose job has flight checks (``Assignment.flights``), the worker runs, with
``/bin/sh -c`` in the command's environment and working directory (plus
``TRIGGERFISH_FLIGHT``, the kind, and ``TRIGGERFISH_HOST``, the worker's host name), each
program for at most ``Flights.timeout`` seconds, its output going to the item's log:

1. ``preflights``, before the first item of an instance on this host (once per instance until
   its postflights ran);
2. ``agenda_preflights``, before each agenda item;
3. the command;
4. ``agenda_postflights``, after each agenda item whose command ended well;
5. ``postflights``: for a job without agenda, after the instance's command; for a job with an
   agenda, when the supervisor hands out the instance's postflight attempt
   (``Assignment.flight == "postflight"``: the programs alone, after its last item here).

A failed (non-zero, timed out, not started) preflight or agenda preflight ends the attempt
with a ``preflight`` failure: the supervisor sends the work elsewhere, no attempt counted. A
failed postflight ends it as a failed attempt of its item (or instance). Pure except for the
small record of which instances ran their preflights here (:class:`Instances`).
"""

from __future__ import annotations

from dataclasses import dataclass

from triggerfish.api.schemas import Assignment, Flights, PreflightFailure, Report
from triggerfish.model.flights import programs
from triggerfish.worker.command import SHELL, Command

COMMAND = "command"
PREFLIGHTS = ("preflight", "agenda_preflight")
INSTANCES_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # preflight, agenda_preflight, command, agenda_postflight, postflight
    program: str = ""  # the command line of a flight program ("" for the command)


def steps(a: Assignment, f: Flights, first: bool) -> list[Step]:
    """What to run for ``a``, in order; ``first``: its instance has not run its preflights
    here yet."""
    if a.flight == "postflight":
        return [Step("postflight", p) for p in programs(f.postflights)]
    out = [Step("preflight", p) for p in programs(f.preflights)] if first else []
    if a.work is not None:
        out += [Step("agenda_preflight", p) for p in programs(f.agenda_preflights)]
    out.append(Step(COMMAND))
    if a.work is not None:
        out += [Step("agenda_postflight", p) for p in programs(f.agenda_postflights)]
    else:  # an instance without agenda: its command is its last item
        out += [Step("postflight", p) for p in programs(f.postflights)]
    return out


def flight_command(step: Step, command: Command, host: str) -> Command:
    """The command of a flight program: the item's environment and working directory."""
    env = {**command.env, "TRIGGERFISH_FLIGHT": step.kind, "TRIGGERFISH_HOST": host}
    return Command([SHELL, "-c", step.program], env, command.cwd)


def refused(token: str, step: Step, report: Report) -> Report:
    """The report of an attempt whose preflight ``report`` failed: the command did not run."""
    error = f"{step.kind} {step.program!r}: {report.error or 'failed'}"
    pf = PreflightFailure(program=step.program, exit_code=report.exit_code, error=error)
    return Report(token=token, status="failed", exit_code=report.exit_code, error=error,
                  preflight=pf)  # fmt: skip


def landed_badly(token: str, step: Step, report: Report) -> Report:
    """The report of an attempt whose postflight ``report`` failed: a failed attempt."""
    error = f"{step.kind} {step.program!r}: {report.error or 'failed'}"
    return Report(token=token, status="failed", exit_code=report.exit_code, error=error)


class Instances:
    """The instances (job, subid) that ran their preflights on this host and have not run
    their postflights yet (the oldest forgotten past :data:`INSTANCES_REMEMBERED`)."""

    def __init__(self, size: int = INSTANCES_REMEMBERED) -> None:
        self._flown: dict[tuple[int, int], None] = {}
        self._size = size

    def first(self, a: Assignment) -> bool:
        return (a.job, a.subid) not in self._flown

    def took_off(self, a: Assignment) -> None:
        self._flown[(a.job, a.subid)] = None
        if len(self._flown) > self._size:
            del self._flown[next(iter(self._flown))]

    def landed(self, a: Assignment) -> None:
        self._flown.pop((a.job, a.subid), None)
