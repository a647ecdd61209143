"""The lock that makes one supervisor per database: taken, refused naming its holder, given
back; one per store (PostgreSQL: per schema of one database)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from triggerfish.store.db import open_engine
from triggerfish.store.lock import AlreadyServed, Holder, ServeLock, claim

PG_SCHEMA_OPTION = "options=-csearch_path%3D"


def hold(url: str, port: int) -> ServeLock:
    """Take the lock as a supervisor answering on ``port``, and say so in the store."""
    lock = claim(url, Holder.me(f"http://127.0.0.1:{port}"))
    engine = open_engine(url)
    try:
        lock.record(engine)
    finally:
        engine.dispose()
    return lock


def test_a_held_database_is_refused_naming_its_holder_until_given_back(db_url: str) -> None:
    first = hold(db_url, 8001)
    try:
        with pytest.raises(AlreadyServed) as refused:
            claim(db_url, Holder.me("http://127.0.0.1:8002"))
        assert refused.value.holder is not None
        assert refused.value.holder.url == "http://127.0.0.1:8001"
        assert refused.value.holder.pid == first.holder.pid
        assert "already served by the supervisor on host" in refused.value.message
    finally:
        first.release()
    second = hold(db_url, 8002)  # given back: the next one takes it
    second.release()


@pytest.fixture
def other_schema(pg_url: str) -> Iterator[str]:
    """The URL of a second store in the same PostgreSQL database (another schema)."""
    base, _, schema = pg_url.rpartition(PG_SCHEMA_OPTION)
    other = f"{schema}_{uuid.uuid4().hex[:4]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{other}"'))
    yield f"{base}{PG_SCHEMA_OPTION}{other}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{other}" CASCADE'))
    engine.dispose()


def test_stores_in_two_schemas_of_one_database_are_held_apart(
    pg_url: str, other_schema: str
) -> None:
    first = hold(pg_url, 8001)
    try:
        second = hold(other_schema, 8002)  # not refused: another store
        second.release()
    finally:
        first.release()
