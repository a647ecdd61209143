"""Job tokens: how a job's own commands and tasks talk to the API, as the job's owner.

A worker runs each command (and each task) with ``TRIGGERFISH_TOKEN`` set to its job's token,
so ``qb.submit`` in a render script or ``tasks.add`` in a task works with no token of its own.
A job token is ``tfjob_<job id>_<MAC>``, the MAC an HMAC-SHA256 of the job id and its owner
under a key derived from the supervisor's local admin token: nothing is stored, and the token
is the same after a restart. The supervisor accepts it while its job is not finished (it stops
working the moment the job completes, fails, is killed or removed) and gives it the rights of
the job's owner, like a callback run's token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "tfjob_"
_CONTEXT = b"triggerfish job tokens\0"


class JobKeys:
    """Makes and checks job tokens under one secret."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(_CONTEXT + secret.encode("utf-8")).digest()

    def token(self, job_id: int, owner: str) -> str:
        mac = hmac.new(self._key, f"{job_id}\0{owner}".encode(), hashlib.sha256).digest()
        return f"{PREFIX}{job_id}_{base64.urlsafe_b64encode(mac).rstrip(b'=').decode('ascii')}"

    @staticmethod
    def job_of(token: str) -> int | None:
        """The job id a job token names (None if ``token`` is not shaped like one)."""
        if not token.startswith(PREFIX):
            return None
        number, sep, _ = token[len(PREFIX) :].partition("_")
        if not sep or not number.isdigit() or len(number) > 19:
            return None
        return int(number)

    def valid(self, token: str, job_id: int, owner: str) -> bool:
        return hmac.compare_digest(token.encode("utf-8"), self.token(job_id, owner).encode())
