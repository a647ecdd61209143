"""Tokens, permissions and the token authority, without a server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from triggerfish.auth.permissions import (
    ADMIN,
    KIND_LOCAL,
    KIND_RUN,
    SUBMIT,
    SUBMIT_CALLBACK,
    SUBMIT_GLOBAL_CALLBACK,
    WORKER,
    Principal,
    check_permissions,
    code_languages,
)
from triggerfish.auth.tokens import (
    bearer,
    ensure_local_token,
    find_token,
    hash_token,
    is_loopback,
    new_token,
    same_hash,
)
from triggerfish.callbacks.runenv import callback_env
from triggerfish.errors import Forbidden, ValidationError
from triggerfish.server.auth import SEEN_MAX, Authority


def row(name: str, perms: list[str], token: str, kind: str = "user") -> dict[str, object]:
    return {"name": name, "kind": kind, "permissions": perms, "token_hash": hash_token(token),
            "created": 0.0}  # fmt: skip


def test_tokens_are_random_and_stored_as_their_sha256() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    t = tokens.pop()
    assert t.startswith("tf_") and len(t) >= 43  # 256 bits in URL-safe base64
    h = hash_token(t)
    assert len(h) == 64 and t not in h and h == hash_token(t)
    assert same_hash(h, hash_token(t)) and not same_hash(h, hash_token(t + "x"))


def test_bearer_header() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer   abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer("Bearer") is None
    assert bearer(None) is None


def test_admin_implies_every_permission() -> None:
    admin = Principal("a", frozenset({ADMIN}))
    for p in (SUBMIT, SUBMIT_CALLBACK, SUBMIT_GLOBAL_CALLBACK, WORKER):
        assert admin.may(p)
    assert admin.may_act_on("someone-else")
    user = Principal("u", frozenset({SUBMIT}))
    assert user.may(SUBMIT) and not user.may(SUBMIT_CALLBACK) and not user.may(WORKER)
    assert user.may_act_on("u") and not user.may_act_on("v")
    with pytest.raises(Forbidden, match="'submit_callback', which user 'u' lacks"):
        user.require(SUBMIT_CALLBACK, "submitting callbacks in python")
    worker = Principal("w", frozenset({WORKER}), "worker")
    assert worker.may(WORKER) and not worker.may(SUBMIT) and not worker.may_act_on("w")


def test_permission_names_are_checked() -> None:
    assert check_permissions(["submit", "admin", "submit"]) == ("admin", "submit")
    with pytest.raises(ValidationError, match="unknown permission 'root'") as info:
        check_permissions(["submit", "root"])
    assert info.value.field == "permissions"
    with pytest.raises(ValidationError):
        check_permissions(["worker"])  # a worker token is made with --worker, not a permission


def test_code_languages() -> None:
    assert code_languages(["qube", "python", "qube", "exec"]) == ["exec", "python"]
    assert code_languages(["qube"]) == []
    assert code_languages(["perl"]) == ["perl"]


def test_authority_knows_users_the_local_admin_and_nothing_else() -> None:
    auth = Authority("tf_local", "op")
    auth.load([row("alice", ["submit"], "tf_alice"), row("farm", [], "tf_farm", "worker")])
    assert auth.authenticate("tf_local") == Principal("op", frozenset({ADMIN}), KIND_LOCAL)
    alice = auth.authenticate("tf_alice")
    assert alice is not None and alice.name == "alice" and alice.permissions == {"submit"}
    farm = auth.authenticate("tf_farm")
    assert farm is not None and farm.permissions == {WORKER}
    assert auth.authenticate("tf_nobody") is None
    assert auth.authenticate("") is None
    auth.put(row("alice", ["submit", "admin"], "tf_alice2"))  # a new token: the old one is gone
    assert auth.authenticate("tf_alice") is None
    new = auth.authenticate("tf_alice2")
    assert new is not None and new.admin
    auth.drop("alice")
    assert auth.authenticate("tf_alice2") is None


def test_run_tokens_carry_the_owners_rights_and_are_revoked() -> None:
    auth = Authority("tf_local", "op")
    auth.load([row("alice", ["submit", "submit_callback"], "tf_alice"),
               row("farm", [], "tf_farm", "worker")])  # fmt: skip
    assert auth.rights_of("alice").permissions == {SUBMIT, SUBMIT_CALLBACK}
    assert auth.rights_of("op").permissions == {ADMIN}  # the local admin's jobs
    assert auth.rights_of("stranger").permissions == {SUBMIT}  # own jobs only
    assert auth.rights_of("farm").permissions == {SUBMIT}  # a worker's name grants nothing
    token = auth.issue_run_token("alice")
    p = auth.authenticate(token)
    assert p is not None and p.kind == KIND_RUN and p.name == "alice" and not p.admin
    assert auth.run_tokens == 1
    auth.revoke_run_token(token)
    assert auth.authenticate(token) is None and auth.run_tokens == 0


def test_a_token_checked_before_is_refused_at_once_after_a_change() -> None:
    """Tokens already checked are remembered (not hashed again); every change of a user or
    revocation of a run token applies to the very next check."""
    auth = Authority("tf_local", "op")
    auth.load([row("alice", ["submit"], "tf_alice"), row("bob", ["submit"], "tf_bob")])
    for _ in range(3):  # checked, then remembered
        alice = auth.authenticate("tf_alice")
        assert alice is not None and alice.permissions == {"submit"}
        assert auth.authenticate("tf_local") is auth.local
    auth.put(row("alice", ["admin"], "tf_alice"))  # same token, other rights
    alice = auth.authenticate("tf_alice")
    assert alice is not None and alice.permissions == {"admin"}
    auth.put(row("alice", ["admin"], "tf_alice2"))  # a new token: the old one is refused
    assert auth.authenticate("tf_alice") is None
    assert auth.authenticate("tf_alice2") is not None
    assert auth.authenticate("tf_bob") is not None
    auth.drop("bob")
    assert auth.authenticate("tf_bob") is None
    token = auth.issue_run_token("alice")
    assert auth.authenticate(token) is not None and auth.authenticate(token) is not None
    auth.revoke_run_token(token)
    assert auth.authenticate(token) is None
    assert auth.authenticate("tf_nobody") is None and auth.authenticate("tf_nobody") is None


def test_the_memory_of_checked_tokens_is_bounded() -> None:
    auth = Authority("tf_local", "op")
    for _ in range(SEEN_MAX + 10):
        token = auth.issue_run_token("alice")
        assert auth.authenticate(token) is not None
    assert len(auth._seen) <= SEEN_MAX


def test_the_local_token_file_is_made_private_once(tmp_path: Path) -> None:
    token = ensure_local_token(tmp_path)
    path = tmp_path / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_local_token(tmp_path) == token  # kept across restarts
    os.chmod(path, 0o644)
    assert ensure_local_token(tmp_path) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # made private again


def test_find_token_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIGGERFISH_TOKEN", raising=False)
    monkeypatch.setenv("TRIGGERFISH_DATA_DIR", str(tmp_path / "env-dir"))
    assert find_token() is None
    (tmp_path / "given").mkdir()
    local = ensure_local_token(tmp_path / "given")
    (tmp_path / "env-dir").mkdir()
    from_env_dir = ensure_local_token(tmp_path / "env-dir")
    assert find_token() == from_env_dir
    assert find_token(data_dir=tmp_path / "given") == local
    # the local admin token goes to a supervisor on this machine only
    assert find_token(url="http://127.0.0.1:8765") == from_env_dir
    assert find_token(url="http://localhost:8765") == from_env_dir
    assert find_token(url="http://[::1]:8765") == from_env_dir
    assert find_token(url="http://farm-head:8765") is None
    assert find_token(url="http://10.0.0.5:8765") is None
    monkeypatch.setenv("TRIGGERFISH_TOKEN", "tf_env")
    assert find_token(url="http://farm-head:8765") == "tf_env"
    assert find_token(data_dir=tmp_path / "given") == "tf_env"
    assert find_token("tf_explicit") == "tf_explicit"


def test_callback_env_passes_the_run_token_not_the_supervisors_secrets() -> None:
    base = {"PATH": "/bin", "TRIGGERFISH_TOKEN": "tf_admin", "TRIGGERFISH_DB": "postgresql://x",
            "TRIGGERFISH_DATA_DIR": "/srv/tf"}  # fmt: skip
    spec = {"run": 7, "job": 3, "user": "alice", "bindings": {"f": "12"},
            "event": {"seq": 1, "name": "complete", "type": "work", "job": 3, "subid": 0,
                      "work": "12", "host": None}}  # fmt: skip
    env = callback_env(spec, url="http://127.0.0.1:1", token="tf_run", base=base)
    assert env["TRIGGERFISH_TOKEN"] == "tf_run" and env["TRIGGERFISH_URL"] == "http://127.0.0.1:1"
    assert "TRIGGERFISH_DB" not in env and "TRIGGERFISH_DATA_DIR" not in env
    assert env["PATH"] == "/bin" and env["QBJOBID"] == "3" and env["QBSUBID"] == "0"
    assert env["TRIGGERFISH_WORK"] == "12" and env["TRIGGERFISH_USER"] == "alice"


def test_loopback_addresses() -> None:
    for bind in ("127.0.0.1", "127.1.2.3", "::1", "localhost"):
        assert is_loopback(bind)
    for bind in ("0.0.0.0", "::", "", "10.0.0.5", "farm.example.com"):
        assert not is_loopback(bind)
