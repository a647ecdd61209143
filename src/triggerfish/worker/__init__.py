"""The worker (host agent): registers a host, pulls work, runs it, reports.

Workers know only the HTTP protocol of :mod:`triggerfish.api.schemas`; nothing here imports
the engine or the store.
"""

from triggerfish.worker.agent import Worker, WorkerOptions, run_worker
from triggerfish.worker.hostinfo import default_name, host_properties
from triggerfish.worker.runner import Runner

__all__ = ["Runner", "Worker", "WorkerOptions", "default_name", "host_properties", "run_worker"]
