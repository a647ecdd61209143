"""The private channel of job type processes to their worker: a Unix socket, JSON lines.

The worker listens on a Unix socket in a directory of its own (mode 0700: only its user may
enter), named to each job type process in ``TRIGGERFISH_JOBTYPE_SOCKET``; each process also
gets a secret of its own in ``TRIGGERFISH_JOBTYPE_SECRET``, and the worker answers only
requests carrying a secret it gave (:mod:`triggerfish.worker.jobproc` knows which).

The protocol is one JSON object a line each way, one request at a time on a connection:
``{"secret", "op", "args"}`` asked, ``{"ok": true, "value": ...}`` or
``{"ok": false, "error": "..."}`` answered. A request may wait long (``requestwork`` waits for
the next item). The other end is :mod:`triggerfish.qbback`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

ENV_SOCKET = "TRIGGERFISH_JOBTYPE_SOCKET"
ENV_SECRET = "TRIGGERFISH_JOBTYPE_SECRET"
LINE_LIMIT = 32 * 1024 * 1024  # the longest request (a result package) the worker reads

Handler = Callable[[str, str, Mapping[str, Any]], Awaitable[Any]]
"""``(secret, op, args)`` → the answer's value; raises :class:`RequestError` to refuse."""


class RequestError(Exception):
    """A request the worker refuses; its message goes back to the process."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Channel:
    """The worker's socket for its job type processes, started on first use."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._dir: str | None = None
        self._server: asyncio.Server | None = None

    @property
    def path(self) -> str | None:
        """The socket's path while it listens."""
        return None if self._dir is None else os.path.join(self._dir, "jobtypes.sock")

    async def listen(self) -> str:
        """Listen (if not yet); the socket's path."""
        if self._server is None:
            self._dir = tempfile.mkdtemp(prefix="triggerfish-jobtypes-")  # (mode 0700)
            self._server = await asyncio.start_unix_server(
                self._serve, os.path.join(self._dir, "jobtypes.sock"), limit=LINE_LIMIT
            )
        path = self.path
        assert path is not None
        return path

    def close(self) -> None:
        """Stop listening and remove the socket (connections end with their processes)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = await self._one(line)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError) as exc:  # (ValueError: a line over the limit)
            logger.info("job type channel closed: %s", exc, extra={"action": "jobtype_channel"})
        finally:
            writer.close()

    async def _one(self, line: bytes) -> dict[str, Any]:
        try:
            msg = json.loads(line)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            return {"ok": False, "error": "a request is one line of JSON, an object"}
        args = msg.get("args")
        try:
            value = await self._handler(
                str(msg.get("secret")), str(msg.get("op")), args if isinstance(args, dict) else {}
            )
        except RequestError as exc:
            return {"ok": False, "error": exc.message}
        except Exception as exc:  # (a fault of the worker: the process hears of it)
            logger.exception("job type request failed", extra={"action": "jobtype_request"})
            return {"ok": False, "error": f"worker error: {type(exc).__name__}: {exc}"}
        return {"ok": True, "value": value}
