"""Routes of the users and their tokens (admin only): add, list, remove, new token.

A token is shown once, in the answer that made it; the database keeps its hash.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request

from triggerfish.api import schemas as s
from triggerfish.auth.permissions import (
    ADMIN,
    KIND_USER,
    KIND_WORKER,
    WORKER,
    check_permissions,
)
from triggerfish.auth.tokens import hash_token, new_token
from triggerfish.errors import ValidationError
from triggerfish.server.auth import who
from triggerfish.server.context import ctx
from triggerfish.store import users


async def require_admin(request: Request) -> None:
    who(request).require(ADMIN, "managing users and tokens")


router = APIRouter(prefix="/api/v1/users", tags=["users"], dependencies=[Depends(require_admin)])


def _info(row: dict[str, Any]) -> s.UserInfo:
    perms = [WORKER] if row["kind"] == KIND_WORKER else list(row["permissions"])
    return s.UserInfo(name=row["name"], kind=row["kind"], permissions=perms,
                      created=row["created"])  # fmt: skip


@router.get("", response_model=list[s.UserInfo])
async def list_users(request: Request) -> list[s.UserInfo]:
    rows = await asyncio.to_thread(users.list_users, ctx(request).store.engine)
    return [_info(r) for r in rows]


@router.post("", status_code=201, response_model=s.UserToken)
async def add_user(request: Request, body: s.UserRequest) -> s.UserToken:
    """A user with ``permissions``, or a worker token (``worker: true``); answers the token."""
    if body.worker and body.permissions:
        raise ValidationError(
            "permissions: a worker token carries no permissions (leave out --perm)",
            field="permissions",
        )
    perms = [] if body.worker else list(check_permissions(body.permissions))
    if not body.worker and not perms:
        raise ValidationError(
            "permissions: give at least one (submit, submit_callback, "
            "submit_global_callback, admin), or make a worker token",
            field="permissions",
        )
    c = ctx(request)
    token = new_token()
    kind = KIND_WORKER if body.worker else KIND_USER
    async with c.auth.changes:
        row = await asyncio.to_thread(
            users.add_user, c.store.engine, body.name, kind, perms, hash_token(token)
        )
        c.auth.put(row)
    return s.UserToken(**_info(row).model_dump(), token=token)


@router.delete("/{name}")
async def remove_user(request: Request, name: str) -> dict[str, str]:
    """Remove a user or worker token; its token stops working at once."""
    c = ctx(request)
    async with c.auth.changes:
        await asyncio.to_thread(users.remove_user, c.store.engine, name)
        c.auth.drop(name)
    return {"removed": name}


@router.post("/{name}/token", response_model=s.UserToken)
async def new_user_token(request: Request, name: str) -> s.UserToken:
    """A new token for ``name``; the old one stops working."""
    c = ctx(request)
    token = new_token()
    async with c.auth.changes:
        row = await asyncio.to_thread(users.set_token_hash, c.store.engine, name, hash_token(token))
        c.auth.put(row)
    return s.UserToken(**_info(row).model_dump(), token=token)
