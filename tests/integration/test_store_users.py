"""The users table on SQLite and PostgreSQL: only hashes stored, names unique, changes kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from triggerfish.auth.tokens import hash_token
from triggerfish.errors import Conflict, NotFound
from triggerfish.store import tables as t
from triggerfish.store import users
from triggerfish.store.store import Store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    st = Store(db_url)  # runs the migrations, 0003 included
    yield st
    st.close()


def test_users_are_added_listed_retokened_and_removed(store: Store) -> None:
    eng = store.engine
    assert users.count_users(eng) == 0
    users.add_user(eng, "alice", "user", ["submit", "submit_callback"], hash_token("tf_a"))
    users.add_user(eng, "farm", "worker", [], hash_token("tf_w"))
    assert users.count_users(eng) == 2
    listed = users.list_users(eng)
    assert [u["name"] for u in listed] == ["alice", "farm"]
    assert listed[0]["permissions"] == ["submit", "submit_callback"]
    assert "token_hash" not in listed[0]
    with eng.connect() as conn:  # the token itself is nowhere in the database
        stored = conn.execute(sa.select(t.users.c.token_hash)).scalars().all()
    assert set(stored) == {hash_token("tf_a"), hash_token("tf_w")}
    with pytest.raises(Conflict, match="exists already"):
        users.add_user(eng, "alice", "user", ["admin"], hash_token("tf_b"))
    row = users.set_token_hash(eng, "alice", hash_token("tf_a2"))
    assert row["token_hash"] == hash_token("tf_a2") and row["permissions"] == [
        "submit",
        "submit_callback",
    ]
    loaded = {r["name"]: r for r in users.load_users(eng)}
    assert loaded["alice"]["token_hash"] == hash_token("tf_a2")
    users.remove_user(eng, "alice")
    with pytest.raises(NotFound, match="no user 'alice'"):
        users.remove_user(eng, "alice")
    with pytest.raises(NotFound):
        users.set_token_hash(eng, "alice", hash_token("tf_x"))
    assert [u["name"] for u in users.load_users(eng)] == ["farm"]
