"""The users table: names, kinds, permissions and token hashes (never tokens).

Users are not farm state (no events, no callbacks): they are written here directly, on
pooled connections, by the supervisor's user routes, and cached in memory by the server.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa

from triggerfish.errors import Conflict, NotFound
from triggerfish.store import tables as t
from triggerfish.store.changes import Row
from triggerfish.store.db import translated

_COLS = (t.users.c.name, t.users.c.kind, t.users.c.permissions, t.users.c.created)


def load_users(engine: sa.Engine) -> list[Row]:
    """Every user with its token hash (for the server's cache)."""
    with translated(), engine.connect() as conn:
        q = sa.select(t.users).order_by(t.users.c.name)
        return [dict(r) for r in conn.execute(q).mappings()]


def list_users(engine: sa.Engine) -> list[Row]:
    """Every user without its token hash."""
    with translated(), engine.connect() as conn:
        q = sa.select(*_COLS).order_by(t.users.c.name)
        return [dict(r) for r in conn.execute(q).mappings()]


def count_users(engine: sa.Engine) -> int:
    with translated(), engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.users)).scalar() or 0)


def add_user(
    engine: sa.Engine, name: str, kind: str, permissions: Sequence[str], token_hash: str
) -> Row:
    row: Row = {"name": name, "kind": kind, "permissions": list(permissions),
                "token_hash": token_hash, "created": time.time()}  # fmt: skip
    with translated(), engine.begin() as conn:
        have = conn.execute(sa.select(t.users.c.name).where(t.users.c.name == name)).first()
        if have is not None:
            raise Conflict(f"user {name!r} exists already", field="name")
        conn.execute(sa.insert(t.users).values(**row))
    return row


def remove_user(engine: sa.Engine, name: str) -> None:
    with translated(), engine.begin() as conn:
        if conn.execute(sa.delete(t.users).where(t.users.c.name == name)).rowcount == 0:
            raise NotFound(f"there is no user {name!r}", field="name")


def set_token_hash(engine: sa.Engine, name: str, token_hash: str) -> Row:
    """Replace a user's token (the old one stops working)."""
    with translated(), engine.begin() as conn:
        q = sa.update(t.users).where(t.users.c.name == name).values(token_hash=token_hash)
        if conn.execute(q).rowcount == 0:
            raise NotFound(f"there is no user {name!r}", field="name")
        row = conn.execute(sa.select(t.users).where(t.users.c.name == name)).mappings().one()
        return dict(row)
