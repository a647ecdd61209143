"""Work logs: the stdout and stderr of every attempt, appended to files in the data dir."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from urllib.parse import quote

from triggerfish.errors import NotFound

STREAMS = ("stdout", "stderr")


class LogStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._headed: dict[str, None] = {}

    def path(self, job: int, unit: str, stream: str) -> Path:
        return self.root / str(job) / f"{quote(unit, safe='')}.{stream}"

    @staticmethod
    def unit(work: str | None, subid: int) -> str:
        return f"work-{work}" if work is not None else f"subjob-{subid}"

    def append(self, job: int, unit: str, stream: str, token: str, host: str, data: str) -> None:
        p = self.path(job, unit, stream)
        p.parent.mkdir(parents=True, exist_ok=True)
        key = f"{token}:{stream}"
        with p.open("a", encoding="utf-8") as fh:
            if key not in self._headed:
                self._headed[key] = None
                if len(self._headed) > 100_000:
                    self._headed.pop(next(iter(self._headed)))
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                fh.write(f"=== attempt {token} on {host} at {stamp} ===\n")
            fh.write(data)

    def remove_jobs(self, jobs: list[int]) -> None:
        """Delete the logs of ``jobs`` (retention)."""
        for job in jobs:
            shutil.rmtree(self.root / str(job), ignore_errors=True)

    def read(self, job: int, unit: str, stream: str) -> str:
        p = self.path(job, unit, stream)
        if not p.exists():
            raise NotFound(
                f"no {stream} log for job {job} {unit} (nothing was written yet)", field="log"
            )
        return p.read_text(encoding="utf-8", errors="replace")
