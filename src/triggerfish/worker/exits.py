"""How a process ended, in words."""

from __future__ import annotations

import signal


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def describe_exit(returncode: int) -> str | None:
    """The error text of an exit status (None for success)."""
    if returncode == 0:
        return None
    if returncode < 0:
        return f"killed by signal {-returncode} ({signal_name(-returncode)})"
    if returncode == 127:
        return "command not found (exited with 127)"
    if returncode == 126:
        return "command not executable (exited with 126)"
    return f"exited with {returncode}"
