"""Helpers shared by the benchmark scripts: stores, repeats, statistics, machine facts.

Not a test module: nothing here asserts a timing. The scripts print what they measure.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TRIGGERFISH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STORES = ("sqlite", "postgresql")


def stores(choice: str) -> list[str]:
    """``sqlite``, ``postgresql`` or ``both`` → the list of stores to run."""
    return list(STORES) if choice == "both" else [choice]


@contextlib.contextmanager
def database(store: str) -> Iterator[str | None]:
    """The ``--db`` URL of one run: None (SQLite in the farm's fresh data dir), or a fresh
    PostgreSQL schema (``search_path`` in the URL), dropped afterwards."""
    if store == "sqlite":
        yield None
        return
    schema = "bench_" + uuid.uuid4().hex[:12]
    eng = sa.create_engine(PG_URL)
    try:
        with eng.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG_URL else "?"
        try:
            yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
        finally:
            with eng.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        eng.dispose()


@dataclass
class Stat:
    """Median, min and max of the repeats of one measurement."""

    values: list[float]

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def fmt(self, digits: int = 2) -> str:
        return f"{self.median:.{digits}f} ({self.min:.{digits}f}-{self.max:.{digits}f})"

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.min, "max": self.max, "runs": self.values}


def stats(rows: Sequence[dict[str, float]]) -> dict[str, Stat]:
    """Per key, the Stat over the repeats."""
    return {k: Stat([r[k] for r in rows]) for k in rows[0]}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    """What the README records about the machine of a run."""
    try:
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
        total = mem.splitlines()[1].split()[1]
    except (OSError, IndexError):
        total = "?"
    return {
        "nproc": str(os.cpu_count()),
        "memory": total,
        "cpu": cpu_model(),
        "python": sys.version.split()[0],
    }


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def cpu(pids: list[int]) -> float:
    """CPU seconds (user + system, with their children's) of the processes ``pids`` and their
    children so far."""
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
    return total


def say(*parts: object) -> None:
    """Progress on stderr, so that --json output on stdout stays clean."""
    print(*parts, file=sys.stderr, flush=True)


def _git(*args: str) -> str:
    """A read-only git command in the repository ('' when git is not there)."""
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.rstrip()


def code_state() -> dict[str, str]:
    """Which code a run measured: the commit, local changes, and a digest of the sources and of
    the versions of the packages that decide the speed (the working tree may differ from HEAD)."""
    digest = hashlib.sha256()
    for path in [*sorted((ROOT / "src").rglob("*.py")), ROOT / "pyproject.toml"]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    versions = []
    for dist in (
        "fastapi",
        "starlette",
        "uvicorn",
        "httptools",
        "uvloop",
        "pydantic",
        "sqlalchemy",
    ):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} -")
    digest.update(";".join(versions).encode())
    dirty = [
        line[3:]
        for line in _git("status", "--porcelain", "--", "src", "pyproject.toml").splitlines()
    ]
    return {
        "commit": _git("rev-parse", "--short", "HEAD") or "?",
        "modified": f"{len(dirty)} file(s) ({', '.join(dirty)})" if dirty else "none",
        "digest": digest.hexdigest()[:12],
        "packages": ", ".join(versions),
    }


def code_line(before: dict[str, str]) -> str:
    """The footer line naming the code measured; a warning if it changed during the run."""
    after = code_state()
    line = (
        f"code: commit {before['commit']}, modified: {before['modified']}; "
        f"digest {before['digest']}; {before['packages']}"
    )
    if after["digest"] != before["digest"]:
        line += (
            f"\nWARNING: the sources or packages changed during the run "
            f"(digest {before['digest']} -> {after['digest']}): the numbers mix two versions"
        )
        say(line)
    return line
