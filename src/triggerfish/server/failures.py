"""What a request is answered when something fails below the route: the error model, always.

Every answer of the API is ``{"error": {"code", "message", "field"?}}``: the app's exception
handlers and the fast path (``server.fastpath``) both map what they catch with
:func:`public_error`. A database's own errors never reach the client as they are (they quote
the SQL and the values): they are logged, and said in general terms
(``store.db.store_failure``) — 422 for a value the store cannot hold, 503 for a store that
cannot be reached or written (a full disk included). A full disk under the logs is a 503 too;
anything else is a 500 that says no more than "internal error".
"""

from __future__ import annotations

import errno
import logging

import pydantic
from pydantic_core import PydanticSerializationError

from triggerfish.errors import StoreError, TriggerfishError, ValidationError
from triggerfish.model.text import scrub
from triggerfish.store.db import is_store_error, store_failure

logger = logging.getLogger(__name__)

# no room to write: the disk (or a quota) is full, or the file system is read-only
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def public_error(exc: BaseException) -> TriggerfishError:
    """The error to answer for ``exc`` (logged here when it is not one of ours)."""
    if isinstance(exc, TriggerfishError):
        return exc
    if is_store_error(exc):
        logger.error("store error: %s", exc, exc_info=exc, extra={"action": "store.error"})
        return store_failure(exc)
    if isinstance(exc, OSError) and exc.errno in NO_ROOM:
        logger.error("cannot write: %s", exc, extra={"action": "server.disk_full"})
        return StoreError(f"the supervisor cannot write to its disk ({errno.errorcode[exc.errno]})")
    if isinstance(exc, OverflowError):  # a number of the request that no C integer holds
        logger.warning("number out of range: %s", exc, extra={"action": "server.overflow"})
        return ValidationError("a number of this request is out of range")
    if isinstance(exc, PydanticSerializationError | UnicodeEncodeError):
        logger.error("an answer holds text JSON cannot carry", exc_info=exc,
                     extra={"action": "server.unencodable"})  # fmt: skip
        return TriggerfishError(
            "internal error: the answer holds text JSON cannot carry (a lone surrogate stored "
            "before such text was refused)"
        )
    logger.error("internal error", exc_info=exc, extra={"action": "server.error"})
    return TriggerfishError("internal error; see the supervisor's log")


def dump_json(model: pydantic.BaseModel) -> bytes:
    """``model`` as JSON; text JSON cannot carry (a lone surrogate a store kept from before
    such text was refused) is replaced by U+FFFD, not a 500 at every pull for ever."""
    try:
        return model.model_dump_json().encode()
    except PydanticSerializationError:
        changed: list[str] = []
        data = scrub(model.model_dump(), "", changed)
        logger.warning("an answer held text JSON cannot carry (%s): replaced",
                       ", ".join(changed[:5]), extra={"action": "server.scrubbed"})  # fmt: skip
        return type(model).model_validate(data).model_dump_json().encode()
