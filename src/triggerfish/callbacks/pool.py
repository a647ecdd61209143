"""Runs callback code outside the engine: python, perl and exec in processes of their own,
mail in a runner thread.

Each process run is a child in its own session (started with vfork: the supervisor is never
copied), at a lower CPU priority than the supervisor, with a time limit (its whole process group
is killed when it passes it) and a memory limit (RLIMIT_AS). At most ``workers`` runs go at
once; the rest wait their turn. When a run ends, its status, output and error go back to the
engine as a command, like any other change.

A universal callback's run carries the path of its file (``spec["file"]``): the file is read
here, when the callback fires, so an edited file takes effect at its next firing.

A process run acts on the API with a token of its own, issued when it starts with the rights of
the callback's owner (``spec["user"]``; admin for universal callbacks, the site's own code)
and revoked when it ends. With ``user`` set
(``--callback-user``) the child runs as that OS user: python drops to it in ``pyrun`` before
reading the code; perl and exec switch before exec (``subprocess``'s user, group and groups).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from triggerfish.callbacks import mail
from triggerfish.callbacks.osuser import CallbackUser
from triggerfish.callbacks.runenv import callback_env, run_work
from triggerfish.errors import TriggerfishError

logger = logging.getLogger(__name__)
MAX_OUTPUT = 64 * 1024
NICE = 10  # callback runs yield the CPU to the supervisor
CPU_MARGIN = 5  # seconds of CPU a run may use past its time limit (see _limit)


def system_perl() -> str:
    """The system perl: /usr/bin/perl, else the first ``perl`` on PATH."""
    if os.access("/usr/bin/perl", os.X_OK):
        return "/usr/bin/perl"
    return shutil.which("perl") or "/usr/bin/perl"


def perl_lib() -> Path:
    """The directory of our ``qb`` Perl module and the perl runner script (package data)."""
    return Path(str(resources.files("triggerfish.callbacks") / "perl"))


@dataclass
class PoolSettings:
    url: str
    timeout: float = 60.0
    memory_mb: int = 1024
    workers: int = 4
    user: CallbackUser | None = None  # --callback-user: the OS user runs drop to
    perl: str = field(default_factory=system_perl)
    smtp: mail.SmtpSettings = field(default_factory=mail.SmtpSettings)


Finish = Callable[[int, str, str, str | None, float, float], None]
# (job id, work name or None) -> (the job as GET /jobs/{id} shows it, the item or None)
Lookup = Callable[[int, str | None], tuple[dict[str, Any] | None, dict[str, Any] | None]]


class RunTokens(Protocol):
    """Who hands out the runs' API tokens (the server's token authority)."""

    def issue_run_token(self, owner: str, site: bool = False) -> str: ...

    def revoke_run_token(self, token: str) -> None: ...


class RunFailed(TriggerfishError):
    """A run that could not be started; its message is the run's error."""


class RunnerPool:
    def __init__(
        self,
        settings: PoolSettings,
        finish: Finish,
        lookup: Lookup | None = None,
        tokens: RunTokens | None = None,
        ended: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._finish = finish
        self._ended = ended  # (language, status) of each run that ends: the metrics
        self._lookup = lookup
        self._tokens = tokens
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="callback-run")

    def submit(self, spec: dict[str, Any]) -> None:
        self._pool.submit(self._run_safely, spec)

    def launch(self, wake: Any) -> None:
        """An engine listener: start the runs a commit queued (``wake.launch``)."""
        for spec in wake.launch:
            self.submit(spec)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run_safely(self, spec: dict[str, Any]) -> None:
        started = time.time()
        try:
            status, output, error = self._run(spec)
        except RunFailed as exc:
            status, output, error = "failed", "", str(exc)
        except Exception as exc:  # never lose a run silently
            logger.exception("callback run failed to start", extra={"action": "callback.run"})
            status, output, error = "failed", "", f"the runner could not start it: {exc!r}"
        if self._ended is not None:
            self._ended(str(spec.get("language")), status)
        self._finish(spec["run"], status, output, error, started, time.time())

    def _run(self, spec: dict[str, Any]) -> tuple[str, str, str | None]:
        language = spec["language"]
        code = self._code(spec)
        if language == "mail":
            return self._mail(spec, code)
        if language == "python":
            argv = [sys.executable, "-m", "triggerfish.callbacks.pyrun"]
            if self.settings.user is not None:
                argv += ["--as-user", self.settings.user.name]
            stdin = code
        elif language == "perl":
            lib = perl_lib()
            argv = [self.settings.perl, f"-I{lib}", str(lib / "run.pl")]
            stdin = code
        elif language == "exec":
            try:
                argv = shlex.split(code)
            except ValueError as exc:
                raise RunFailed(f"bad command line: {exc}") from None
            if not argv:
                raise RunFailed("an exec callback needs a command line")
            stdin = json.dumps({k: spec.get(k) for k in ("run", "callback", "job", "bindings")}
                               | {"event": spec.get("event"), "work": run_work(spec)})  # fmt: skip
        else:
            raise RunFailed(f"no runner for language {language!r}")
        return self._process(spec, argv, stdin)

    def _code(self, spec: Mapping[str, Any]) -> str:
        path = spec.get("file")
        if not path:
            return str(spec.get("code") or "")
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RunFailed(f"cannot read the callback file {path}: {exc}") from None

    def _limit(self, pid: int) -> None:
        """Apply the memory limit and the lower priority to a child just started.

        Set from here, not in the child before exec (``preexec_fn``): that would make
        ``subprocess`` fork the whole supervisor, holding the GIL for tens of milliseconds per
        run, instead of using vfork. The child is still starting up (python's or perl's
        interpreter, a program's loader) when the limits land: long before the callback's code
        can allocate much."""
        import resource

        limit = self.settings.memory_mb * 1024 * 1024
        # A CPU-time limit too, a little past the time limit: the supervisor kills a run at its
        # time limit, but if the supervisor itself dies (SIGKILL), a looping run would spin on
        # for ever; the kernel ends it at this limit instead (SIGXCPU, then SIGKILL).
        cpu = math.ceil(self.settings.timeout) + CPU_MARGIN
        with contextlib.suppress(ProcessLookupError, PermissionError):
            resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
            resource.prlimit(pid, resource.RLIMIT_CPU, (cpu, cpu + CPU_MARGIN))
            os.setpriority(os.PRIO_PROCESS, pid, NICE)

    def _process(
        self, spec: dict[str, Any], argv: list[str], stdin: str
    ) -> tuple[str, str, str | None]:
        token = None
        if self._tokens is not None:  # a universal callback (a file) is the site's own code
            token = self._tokens.issue_run_token(
                str(spec.get("user") or ""), bool(spec.get("file"))
            )
        try:
            return self._process_with(spec, argv, stdin, token)
        finally:
            if token is not None and self._tokens is not None:
                self._tokens.revoke_run_token(token)

    def _switch(self, argv: list[str]) -> dict[str, Any]:
        """Popen arguments that run ``argv`` as the callback user (python drops by itself)."""
        user = self.settings.user
        if user is None:
            return {}
        home = user.home if os.path.isdir(user.home) else "/"
        if argv[:3] == [sys.executable, "-m", "triggerfish.callbacks.pyrun"]:
            return {"cwd": home}
        groups = os.getgrouplist(user.name, user.gid)
        return {"cwd": home, "user": user.uid, "group": user.gid, "extra_groups": groups}

    def _process_with(
        self, spec: dict[str, Any], argv: list[str], stdin: str, token: str | None
    ) -> tuple[str, str, str | None]:
        env = callback_env(spec, self.settings.url, token, user=self.settings.user)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                **self._switch(argv),
            )
        except OSError as exc:
            raise RunFailed(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        self._limit(proc.pid)
        error: str | None = None
        try:
            out, _ = proc.communicate(stdin.encode(), timeout=self.settings.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, _ = proc.communicate()
            error = f"time limit of {self.settings.timeout:g} s passed: killed"
        text = out.decode("utf-8", "replace")[-MAX_OUTPUT:]
        if error is None and proc.returncode != 0:
            lines = [x for x in text.strip().splitlines() if x.strip()]
            last = lines[-1] if lines else ""
            if proc.returncode < 0:
                error = f"killed by signal {-proc.returncode}"
            else:
                error = last or f"exited with {proc.returncode}"
        return ("failed" if error else "complete"), text, error

    def _mail(self, spec: dict[str, Any], code: str) -> tuple[str, str, str | None]:
        prefix = str(spec.get("output") or "")
        job_id = spec.get("job")
        if job_id is None or self._lookup is None:
            raise RunFailed("a mail callback needs a job")
        ev = spec.get("event") or {}
        name = run_work(spec) if ev.get("type") == "work" or spec.get("bindings") else None
        job, work = self._lookup(int(job_id), name)
        if job is None:
            raise RunFailed(f"job {job_id} does not exist any more")
        to = mail.recipients(mail.mailaddress_of(job))
        if not to:
            return "complete", prefix + f"skipped: job {job_id} has no mailaddress", None
        smtp = self.settings.smtp
        msg = mail.compose(job, work, ev, smtp.from_address, note=code)
        try:
            mail.send(smtp, msg, timeout=self.settings.timeout)
        except Exception as exc:  # smtplib and socket errors: the run failed, say why
            return "failed", prefix, f"mail to {', '.join(to)} via {smtp.host}:{smtp.port}: {exc}"
        return "complete", prefix + f"mailed {msg['Subject']!r} to {', '.join(to)}", None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
