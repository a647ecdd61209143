"""Who may run code, over real HTTP: tokens, permissions, worker tokens, callback runs acting
with their owner's rights, the local admin token file, the refusal of an open address."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from triggerfish.cli.local import LocalFarm, child_env, free_port
from triggerfish.cli.main import cli
from triggerfish.client.client import Client
from triggerfish.errors import ClientError

PY_CALLBACK = {"triggers": "complete-job-self", "language": "python", "code": "print(1)"}


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFarm]:
    data = tmp_path_factory.mktemp("auth") / "farm"
    with LocalFarm(workers=1, slots=2, data_dir=data, grace=5.0) as f:
        yield f


def cli_run(farm: LocalFarm, *args: str, token: str | None = None) -> Any:
    """``triggerfish ARGS`` in-process, finding the farm's admin token through its data dir."""
    env = {**farm.client_env(), "TRIGGERFISH_TOKEN": token, "TRIGGERFISH_JSON": None}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture(scope="module")
def tokens(farm: LocalFarm) -> dict[str, str]:
    """Users made with the CLI, as an operator would: name -> token."""
    made = {}
    for name, perms in [
        ("alice", ["submit", "submit_callback"]),
        ("bob", ["submit"]),
        ("carol", ["submit", "submit_global_callback"]),
        ("dave", ["submit", "submit_global_callback"]),
        ("root-ish", ["admin"]),
    ]:
        args = ["users", "add", name, "--json"] + [f"--perm={p}" for p in perms]
        result = cli_run(farm, *args)
        assert result.exit_code == 0, result.output
        made[name] = json.loads(result.stdout)["token"]
    result = cli_run(farm, "users", "add", "farm-workers", "--worker", "--json")
    assert result.exit_code == 0, result.output
    made["farm-workers"] = json.loads(result.stdout)["token"]
    return made


def raw(farm: LocalFarm, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.Client(base_url=f"{farm.url}/api/v1", headers=headers, timeout=30)


def settle(admin: Client) -> None:
    """Let earlier tests' jobs and callback runs end, so that only a refused request could
    change anything."""
    active = [j["id"] for j in admin.jobs(status="pending,running,waiting", limit=100_000)]
    admin.wait(active, timeout=60)
    deadline = time.monotonic() + 60
    while any(
        r["status"] in ("queued", "running")
        for j in admin.jobs(limit=100_000)
        for r in admin.callbacks(j["id"])["runs"]
    ):
        assert time.monotonic() < deadline, "callback runs did not end"
        time.sleep(0.1)


def state(admin: Client) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    jobs = admin.jobs(limit=100_000)
    return jobs, admin.all_events(), admin.users(), admin.global_callbacks()["callbacks"]


def job(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "package": {"cmdline": "true"}, **kw}


def test_the_local_admin_token_file_is_private(farm: LocalFarm) -> None:
    path = farm.data_dir / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == farm.token and len(farm.token or "") > 40


def test_requests_without_a_known_token_are_refused_and_change_nothing(
    farm: LocalFarm, tokens: dict[str, str]
) -> None:
    with farm.client() as admin:
        settle(admin)
        before = state(admin)
        wrong: list[dict[str, str]] = [
            {},
            {"Authorization": "Bearer tf_not-a-token"},
            {"Authorization": f"Bearer {tokens['alice']}x"},
            {"Authorization": f"Basic {tokens['alice']}"},
        ]
        for headers in wrong:
            with httpx.Client(base_url=f"{farm.url}/api/v1", headers=headers) as h:
                for method, path, body in [
                    ("GET", "/jobs", None),
                    ("POST", "/jobs", [job("sneaky")]),
                    ("POST", "/control", {"action": "kill", "targets": ["1"]}),
                    ("POST", "/callbacks", {"triggers": "submit-job-*", "code": "print(1)"}),
                    ("POST", "/users", {"name": "mallory", "permissions": ["admin"]}),
                    ("POST", "/workers/register", {"name": "evil", "slots": 1}),
                    ("POST", "/tasks", {"target": "os:getcwd"}),
                    ("POST", "/tasks/many", {"tasks": [{"target": "os:getcwd"}]}),
                    ("POST", "/workers/w/report", {"session": "s", "reports": []}),
                ]:
                    r = h.request(method, path, json=body)
                    assert r.status_code == 401, (headers, method, path, r.text)
                    assert r.json()["error"]["code"] == "unauthorized"
                    assert r.headers["www-authenticate"] == "Bearer"
        assert state(admin) == before
    with httpx.Client() as h:  # the API's documentation stays public
        assert h.get(f"{farm.url}/docs").status_code == 200
        assert "bearer" in h.get(f"{farm.url}/openapi.json").json()["components"]["securitySchemes"]


def test_the_cli_says_what_to_do_with_a_wrong_token(farm: LocalFarm) -> None:
    result = cli_run(farm, "jobs", token="tf_wrong")
    assert result.exit_code == 1
    assert "unknown API token" in result.stderr and "TRIGGERFISH_TOKEN" in result.stderr


def test_users_list_shows_permissions_never_tokens(farm: LocalFarm, tokens: dict[str, str]) -> None:
    result = cli_run(farm, "users", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = {u["name"]: u for u in json.loads(result.stdout)}
    assert listed["alice"]["permissions"] == ["submit", "submit_callback"]
    assert listed["farm-workers"]["kind"] == "worker"
    assert not any(t in result.stdout for t in tokens.values())
    # only admins manage users
    with raw(farm, tokens["alice"]) as h:
        assert h.get("/users").status_code == 403
        assert h.post("/users", json={"name": "eve", "permissions": ["admin"]}).status_code == 403
    # bad requests name the problem
    bad = cli_run(farm, "users", "add", "nobody-perms")
    assert bad.exit_code == 1 and "permissions" in bad.stderr
    again = cli_run(farm, "users", "add", "alice", "--perm", "submit")
    assert again.exit_code == 1 and "exists already" in again.stderr
    before = cli_run(farm, "users", "list", "--json").stdout
    odd = cli_run(farm, "users", "add", "bad name!", "--perm", "submit")
    assert odd.exit_code == 1
    assert "name: a user name is letters, digits and _ . @ -" in odd.stderr
    assert "'bad name!'" in odd.stderr
    assert cli_run(farm, "users", "list", "--json").stdout == before


def test_the_job_belongs_to_the_token_user(farm: LocalFarm, tokens: dict[str, str]) -> None:
    with Client(farm.url, token=tokens["bob"]) as bob:
        [j] = bob.submit(job("bobs", user="alice"))  # not admin: the token decides
        assert bob.job(j["id"])["user"] == "bob"
    with Client(farm.url, token=tokens["root-ish"]) as admin:
        [k] = admin.submit(job("for-alice", user="alice"))  # an admin may submit for others
        assert admin.job(k["id"])["user"] == "alice"


def test_code_callbacks_need_submit_callback_and_a_refusal_stores_nothing(
    farm: LocalFarm, tokens: dict[str, str]
) -> None:
    with farm.client() as admin, raw(farm, tokens["bob"]) as bob:
        settle(admin)
        before = state(admin)
        body = [job("plain"), job("with-code", callbacks=[PY_CALLBACK])]
        r = bob.post("/jobs", json=body)
        assert r.status_code == 403, r.text
        assert "submit_callback" in r.json()["error"]["message"]
        assert "python" in r.json()["error"]["message"]
        assert state(admin) == before
        # qube action callbacks carry no code: submit is enough
        qube = {"triggers": "complete-job-self", "language": "qube", "code": "unblock-self"}
        assert bob.post("/jobs", json=[job("qube", callbacks=[qube])]).status_code == 201
    with Client(farm.url, token=tokens["alice"]) as alice:
        [j] = alice.submit(job("alice-code", callbacks=[PY_CALLBACK]))
        assert alice.callbacks(j["id"])["callbacks"][0]["language"] == "python"


def test_control_of_another_users_job_needs_admin(farm: LocalFarm, tokens: dict[str, str]) -> None:
    with (
        Client(farm.url, token=tokens["alice"]) as alice,
        Client(farm.url, token=tokens["bob"]) as bob,
        farm.client() as admin,
    ):
        [a] = alice.submit(job("alices", status="blocked"))
        settle(admin)
        before = state(admin)
        for verb in ("kill", "unblock", "remove"):
            with pytest.raises(ClientError, match="needs the permission 'admin'") as info:
                bob.control(verb, [a["id"]])
            assert info.value.status == 403
        with pytest.raises(ClientError) as info:
            bob.modify(a["id"], priority=1)
        assert info.value.status == 403
        with raw(farm, tokens["bob"]) as h:
            assert h.post(f"/jobs/{a['id']}/kill").status_code == 403
        assert state(admin) == before
        # reads need any valid token
        assert bob.job(a["id"])["status"] == "blocked"
        alice.modify(a["id"], priority=5)  # one's own job: submit suffices
        admin.kill(a["id"])  # anybody's job: admin
        assert alice.job(a["id"])["status"] == "killed"


def test_joining_another_users_pgrp_needs_admin(farm: LocalFarm, tokens: dict[str, str]) -> None:
    # A pgrp's labels are a namespace: a job joining it could satisfy the owner's callbacks.
    wait_for_render = {"triggers": "complete-job-render", "code": "unblock-self"}
    with (
        Client(farm.url, token=tokens["alice"]) as alice,
        Client(farm.url, token=tokens["bob"]) as bob,
        farm.client() as admin,
    ):
        [a] = alice.submit(job("comp", status="blocked", callbacks=[wait_for_render]))
        settle(admin)
        before = state(admin)
        with pytest.raises(
            ClientError, match=r"jobs\[0\]\.pgrp: pgrp \d+ holds jobs of 'alice'"
        ) as info:
            bob.submit(job("render", label="render", pgrp=a["pgrp"]))
        assert info.value.status == 403
        assert state(admin) == before
        [b] = bob.submit(job("mine"))  # his own pgrp: submit suffices
        [b2] = bob.submit(job("joins", pgrp=b["pgrp"]))
        assert b2["pgrp"] == b["pgrp"]
        [c] = alice.submit(job("render", label="render", pgrp=a["pgrp"]))  # hers: fine
        assert c["pgrp"] == a["pgrp"]
        [d] = admin.submit(job("admin-joins", pgrp=a["pgrp"]))  # admin: anybody's
        assert d["pgrp"] == a["pgrp"]
        admin.wait([a["id"], b["id"], b2["id"], c["id"], d["id"]], timeout=60)
        assert alice.job(a["id"])["status"] == "complete"


def test_a_jobs_commands_act_with_its_token(
    farm: LocalFarm, tokens: dict[str, str], tmp_path: Path
) -> None:
    # qb/Client/CLI inside a render script: TRIGGERFISH_URL and TRIGGERFISH_TOKEN are set by
    # the worker; the token has the job owner's rights and dies with the job.
    saved = tmp_path / "token"
    with (
        Client(farm.url, token=tokens["bob"]) as bob,
        Client(farm.url, token=tokens["alice"]) as alice,
    ):
        [other] = alice.submit(job("alices", status="blocked"))
        tf = f"{sys.executable} -m triggerfish"
        script = (
            f'printf %s "$TRIGGERFISH_TOKEN" > {saved} && '
            f"{tf} submit --name from-inside -- true && "
            f"! {tf} kill {other['id']}"  # alice's job: bob's job token may not
        )
        [parent] = bob.submit({"name": "spawner", "package": {"cmdline": script}})
        assert bob.wait([parent["id"]], timeout=60) == {parent["id"]: "complete"}
        [child] = bob.jobs(name="from-inside")
        assert child["user"] == "bob" and child["pgrp"] != parent["pgrp"]
        assert alice.job(other["id"])["status"] == "blocked"
    token = saved.read_text()
    assert token.startswith(f"tfjob_{parent['id']}_")
    with raw(farm, token) as h:  # the job is finished: its token no longer works
        r = h.get("/jobs")
        assert r.status_code == 401 and "unknown API token" in r.text
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    blocked = {"name": "held", "status": "blocked", "package": {"cmdline": "true"}}
    with Client(farm.url, token=tokens["bob"]) as bob:
        [held] = bob.submit(blocked)
        with raw(farm, forged.replace(f"_{parent['id']}_", f"_{held['id']}_")) as h:
            assert h.get("/jobs").status_code == 401  # a MAC made for another job
        bob.kill(held["id"])


def test_global_callbacks_need_their_permission(farm: LocalFarm, tokens: dict[str, str]) -> None:
    with farm.client() as admin:
        settle(admin)
        before = state(admin)
        for name in ("alice", "bob"):
            with raw(farm, tokens[name]) as h:
                r = h.post("/callbacks", json={"triggers": "submit-job-*", "code": "print(1)"})
                assert r.status_code == 403 and "submit_global_callback" in r.text
        assert state(admin) == before
    with (
        Client(farm.url, token=tokens["carol"]) as carol,
        Client(farm.url, token=tokens["dave"]) as dave,
    ):
        added = carol.add_global_callback("complete-job-999999", "print(1)")
        with pytest.raises(ClientError, match="belongs to 'carol'") as info:
            dave.remove_global_callback(added["id"])  # another user's: admin only
        assert info.value.status == 403
        carol.remove_global_callback(added["id"])


def test_worker_tokens_act_as_workers_and_nothing_else(
    farm: LocalFarm, tokens: dict[str, str], tmp_path: Path
) -> None:
    with raw(farm, tokens["bob"]) as h:  # a user cannot act as a worker
        assert h.post("/workers/register", json={"name": "bobs-box", "slots": 1}).status_code == 403
        report = h.post("/workers/bobs-box/report", json={"session": "s", "reports": []})
        assert report.status_code == 403, report.text
        assert "'worker'" in report.json()["error"]["message"]
    with raw(farm, tokens["farm-workers"]) as h:  # bad lookahead fields: 422, naming the field
        for body, field in (
            ({"session": "s", "reports": []}, "a report carries at least one"),
            ({"session": "s", "release": ["t"], "ahead": 65}, "ahead"),
            ({"session": "s", "reports": [{"token": "t", "status": "complete", "seconds": -1}]},
             "seconds"),
        ):  # fmt: skip
            bad = h.post("/workers/w/report", json=body)
            assert bad.status_code == 422 and field in bad.json()["error"]["message"], bad.text
    with raw(farm, tokens["farm-workers"]) as h:  # a worker cannot submit or control
        assert h.post("/jobs", json=[job("from-worker")]).status_code == 403
        added = h.post("/tasks", json={"target": "os:getcwd"})
        assert added.status_code == 403 and "'submit'" in added.json()["error"]["message"]
        assert h.post("/tasks/many", json={"tasks": [{"target": "os:getcwd"}]}).status_code == 403
        assert h.post("/control", json={"action": "kill", "targets": ["1"]}).status_code == 403
    # a real worker with a user's token is refused and exits 2
    env = {**child_env(), "TRIGGERFISH_WORKER_TOKEN": tokens["bob"],
           "TRIGGERFISH_DATA_DIR": str(tmp_path)}  # fmt: skip
    refused = subprocess.run(
        [sys.executable, "-m", "triggerfish", "worker", "--supervisor", farm.url, "--name",
         "bobs-worker", "--log-level", "warning"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "'worker', which user 'bob' lacks" in refused.stderr
    # a real worker with the worker token (and no admin token anywhere it could look)
    env = {**child_env(), "TRIGGERFISH_WORKER_TOKEN": tokens["farm-workers"],
           "TRIGGERFISH_DATA_DIR": str(tmp_path)}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "triggerfish", "worker", "--supervisor", farm.url, "--name",
         "tokened", "--group", "tokened", "--slots", "1", "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    try:
        with Client(farm.url, token=tokens["bob"]) as bob:
            [j] = bob.submit(job("on-tokened", groups=["tokened"]))
            assert bob.wait(j["id"], timeout=60) == {j["id"]: "complete"}
            assert bob.job(j["id"])["subjobs"][0]["host"] == "tokened"
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_new_token_replaces_the_old_and_removal_revokes(
    farm: LocalFarm, tokens: dict[str, str]
) -> None:
    assert cli_run(farm, "users", "add", "temp", "--perm", "submit").exit_code == 0
    result = cli_run(farm, "users", "token", "temp", "--json")
    assert result.exit_code == 0, result.output
    new = json.loads(result.stdout)["token"]
    with raw(farm, new) as h:
        assert h.get("/jobs").status_code == 200
    assert cli_run(farm, "users", "remove", "temp").exit_code == 0
    with raw(farm, new) as h:
        assert h.get("/jobs").status_code == 401
    assert "no user 'temp'" in cli_run(farm, "users", "remove", "temp").stderr


def test_a_replaced_or_removed_token_is_refused_at_once_on_task_adds(
    farm: LocalFarm, tokens: dict[str, str]
) -> None:
    """Task adds take the fast path, where a token already checked is not hashed again: a
    new token, or the user's removal, still refuses the old one from the next request on."""
    assert cli_run(farm, "users", "add", "quick", "--perm", "submit").exit_code == 0
    result = cli_run(farm, "users", "token", "quick", "--json")
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)["token"]
    task = {"target": "os:getcwd", "params": None}
    with raw(farm, first) as h:
        for _ in range(3):
            assert h.post("/tasks", json=task).status_code == 201
        result = cli_run(farm, "users", "token", "quick", "--json")  # a new token
        assert result.exit_code == 0, result.output
        second = json.loads(result.stdout)["token"]
        refused = h.post("/tasks", json=task)
        assert refused.status_code == 401 and refused.json()["error"]["field"] == "token"
    with raw(farm, second) as h:
        for _ in range(3):
            assert h.post("/tasks", json=task).status_code == 201
        assert cli_run(farm, "users", "remove", "quick").exit_code == 0
        assert h.post("/tasks", json=task).status_code == 401


def _run_of(c: Client, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = c.callbacks(job_id)["runs"]
        if runs and runs[0]["status"] not in ("queued", "running"):
            return dict(runs[0])
        time.sleep(0.1)
    raise AssertionError(f"the run of job {job_id} never ended")


def test_a_callback_acts_with_its_owners_rights(farm: LocalFarm, tokens: dict[str, str]) -> None:
    with (
        Client(farm.url, token=tokens["alice"]) as alice,
        Client(farm.url, token=tokens["bob"]) as bob,
    ):
        [theirs] = bob.submit(job("bobs-held", status="blocked"))
        [mine] = alice.submit(job("alices-held", status="blocked"))
        code = f"""
import os
print("token", os.environ["TRIGGERFISH_TOKEN"])
qb.unblock({mine["id"]})
try:
    qb.kill({theirs["id"]})
    print("killed theirs")
except Exception as exc:
    print("refused:", exc)
"""
        cb = {"triggers": "complete-job-self", "language": "python", "code": code}
        [trigger] = alice.submit(job("trigger", callbacks=[cb]))
        run = _run_of(alice, trigger["id"])
        assert run["status"] == "complete", run
        assert "refused:" in run["output"] and "needs the permission 'admin'" in run["output"]
        assert "killed theirs" not in run["output"]
        assert bob.job(theirs["id"])["status"] == "blocked"
        assert alice.wait(mine["id"], timeout=60) == {mine["id"]: "complete"}
        # the run's token lived as long as the run
        run_token = run["output"].split("token ", 1)[1].split()[0]
        assert run_token not in tokens.values() and run_token != farm.token
        with raw(farm, run_token) as h:
            assert h.get("/jobs").status_code == 401


def test_an_open_address_without_tokens_is_refused(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "triggerfish", "supervisor", "--bind", "0.0.0.0", "--port",
            str(free_port()), "--data-dir", str(tmp_path), "--log-level", "warning"]  # fmt: skip
    refused = subprocess.run(args, env=child_env(), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "refusing to listen on '0.0.0.0'" in refused.stderr
    assert "triggerfish users add" in refused.stderr
    # with a worker token in its database it starts (and still needs tokens)
    from triggerfish.auth.tokens import hash_token
    from triggerfish.store.db import open_engine
    from triggerfish.store.users import add_user

    engine = open_engine(f"sqlite:///{tmp_path / 'triggerfish.db'}")
    add_user(engine, "farm-workers", "worker", [], hash_token("tf_worker-secret"))
    engine.dispose()
    port = free_port()
    args[args.index("--port") + 1] = str(port)
    proc = subprocess.Popen(args, env=child_env())
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the supervisor exited"
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1") as h:
                    assert h.get("/jobs").status_code == 401
                    auth = {"Authorization": "Bearer tf_worker-secret"}
                    assert h.post("/workers/register", json={"name": "w", "slots": 1},
                                  headers=auth).status_code == 200  # fmt: skip
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the supervisor never answered"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another OS user needs root")
def test_callback_code_runs_as_the_callback_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    monkeypatch.setenv("TRIGGERFISH_CALLBACK_USER", "nobody")
    with LocalFarm(workers=1, data_dir=tmp_path / "farm", grace=5.0) as farm, farm.client() as c:
        code = "import os\nprint('uid', os.getuid(), 'gid', os.getgid(), 'euid', os.geteuid())"
        cb = {"triggers": "complete-job-self", "language": "python", "code": code}
        [j] = c.submit(job("as-nobody", callbacks=[cb]))
        run = _run_of(c, j["id"])
        assert run["status"] == "complete", run
        assert f"uid {nobody.pw_uid} gid {nobody.pw_gid} euid {nobody.pw_uid}" in run["output"]
        # exec (and perl) switch user before exec
        ex = {"triggers": "complete-job-self", "language": "exec", "code": "id -u"}
        [e] = c.submit(job("exec-as-nobody", callbacks=[ex]))
        ran = _run_of(c, e["id"])
        assert ran["status"] == "complete" and ran["output"].strip() == str(nobody.pw_uid), ran
        # the admin token file is out of its reach
        cb2 = {"triggers": "complete-job-self", "language": "python",
               "code": f"open({str(farm.data_dir / 'admin.token')!r}).read()"}  # fmt: skip
        [k] = c.submit(job("reads-token", callbacks=[cb2]))
        denied = _run_of(c, k["id"])
        assert denied["status"] == "failed" and "PermissionError" in denied["error"]
