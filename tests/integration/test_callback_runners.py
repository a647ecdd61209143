"""The runners of callback code outside the engine (RunnerPool): perl's qb module against a
real HTTP server, exec's environment and stdin, mail against a real SMTP server, universal
files read when they fire. Real processes, real sockets; the engine is not involved."""

from __future__ import annotations

import json
import queue
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from smtp_server import Login, smtp_server

from triggerfish.callbacks.mail import SmtpSettings
from triggerfish.callbacks.pool import PoolSettings, RunnerPool
from triggerfish.cli.local import free_port
from triggerfish.server.auth import Authority

Result = tuple[int, str, str, str | None]


class Api(BaseHTTPRequestHandler):
    """A stand-in for the supervisor's API that records what qb sends."""

    seen: queue.Queue[tuple[str, str, str | None, Any]] = queue.Queue()

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.put(("POST", self.path, self.headers.get("Authorization"), body))
        target = body["targets"][0]
        if target == "404":
            self._answer(404, {"error": {"code": "not_found", "message": "job 404 does not exist"}})
        elif target == "409":
            self._answer(409, {"error": {"code": "conflict", "message": "already"}})
        else:
            self._answer(200, {"results": [{"target": target, "status": "pending"}]})

    def do_GET(self) -> None:
        self.seen.put(("GET", self.path, self.headers.get("Authorization"), None))
        if self.path.startswith("/api/v1/jobs/7"):
            self._answer(200, {"id": 7, "name": "seven", "status": "running",
                               "fields": {"mailaddress": "a@b"}})  # fmt: skip
        else:
            self._answer(404, {"error": {"code": "not_found", "message": "no"}})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    Api.seen = queue.Queue()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(
    settings: PoolSettings, spec: dict[str, Any], lookup: Any = None, tokens: Any = None
) -> Result:
    done: queue.Queue[Result] = queue.Queue()
    pool = RunnerPool(settings, lambda run, st, out, err, *_: done.put((run, st, out, err)),
                      lookup, tokens)  # fmt: skip
    try:
        pool.submit(spec)
        return done.get(timeout=60)
    finally:
        pool.close()


def _spec(language: str, code: str = "", **kw: Any) -> dict[str, Any]:
    ev = {"seq": 41, "name": "complete", "type": "work", "job": 7, "subid": 0, "work": "5",
          "host": None}  # fmt: skip
    return {"run": 3, "callback": 2, "job": 7, "language": language, "code": code, "file": None,
            "bindings": {}, "event": ev} | kw  # fmt: skip


def test_perl_qb_speaks_to_the_api_with_the_token(api: str) -> None:
    code = """
print "job $qb::jobid sub $qb::subid work $qb::workid event $qb::event->{name}\\n";
my @u = qb::unblock($qb::jobid, 409);
print "unblocked @u\\n";
qb::workunblock("$qb::jobid:5");
qb::block(8);
qb::kill("9.1");
my ($j) = qb::jobinfo("-id", $qb::jobid);
print "info $j->{name} $j->{mailaddress}\\n";
my @none = qb::jobinfo("-id", 404);
print "none " . scalar(@none) . "\\n";
eval { qb::unblock(404) }; print "error: $@";
eval { qb::workunblock("5") }; print "error: $@";
"""
    auth = Authority("tf_local", "op")
    spec = _spec("perl", code, user="alice")
    run, status, out, error = _run(PoolSettings(url=api), spec, tokens=auth)
    assert (run, status, error) == (3, "complete", None), out
    assert "job 7 sub 0 work 5 event complete" in out
    assert "unblocked 7\n" in out  # 409 (already so) is left out, not an error
    assert "info seven a@b" in out and "none 0" in out
    assert "error: qb: HTTP 404: job 404 does not exist" in out
    assert "error: qb: '5' is not a work id" in out
    seen = []
    while not Api.seen.empty():
        seen.append(Api.seen.get())
    [sent] = {header for *_, header, _ in seen}  # one token for the whole run: its own
    assert sent.startswith("Bearer tf_") and sent != "Bearer tf_local"
    assert auth.run_tokens == 0 and auth.authenticate(sent.split()[1]) is None  # revoked
    posts = [(b["action"], b["targets"]) for m, _, _, b in seen if m == "POST"]
    assert posts == [("unblock", ["7"]), ("unblock", ["409"]), ("unblock", ["7:5"]),
                     ("block", ["8"]), ("kill", ["9.1"]), ("unblock", ["404"])]  # fmt: skip


def test_perl_without_a_token_sends_no_authorization(api: str) -> None:
    _, status, out, _ = _run(PoolSettings(url=api), _spec("perl", "qb::block(8);"))
    assert status == "complete", out
    assert Api.seen.get_nowait()[2] is None


def test_exec_gets_the_event_in_its_environment_and_on_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIGGERFISH_SMTP_PASSWORD", "not for callbacks")
    out_env, out_json = tmp_path / "env", tmp_path / "stdin.json"
    code = f"sh -c 'env > {out_env}; cat > {out_json}; echo said hello'"
    spec = _spec("exec", code, bindings={"f": "5"})
    auth = Authority("tf_local", "op")
    _, status, out, error = _run(PoolSettings(url="http://sup:1"), spec, tokens=auth)
    assert (status, error, out) == ("complete", None, "said hello\n")
    env = dict(line.split("=", 1) for line in out_env.read_text().splitlines() if "=" in line)
    assert env["QBJOBID"] == "7" and env["QBSUBID"] == "0" and env["QBWORKNAME"] == "5"
    assert env["TRIGGERFISH_WORK"] == "5" and env["TRIGGERFISH_EVENT_NAME"] == "complete"
    assert env["TRIGGERFISH_URL"] == "http://sup:1" and env["TRIGGERFISH_TOKEN"].startswith("tf_")
    assert auth.authenticate(env["TRIGGERFISH_TOKEN"]) is None  # the run's token ended with it
    assert json.loads(env["TRIGGERFISH_EVENT"])["seq"] == 41
    assert "TRIGGERFISH_SMTP_PASSWORD" not in env  # the supervisor's options stay its own
    given = json.loads(out_json.read_text())
    assert given["job"] == 7 and given["work"] == "5" and given["bindings"] == {"f": "5"}
    assert given["event"]["name"] == "complete"


def test_a_universal_file_is_read_when_it_fires(tmp_path: Path) -> None:
    f = tmp_path / "cb.py"
    f.write_text("print('first', qb.jobid())")
    spec = _spec("python", file=str(f))
    assert _run(PoolSettings(url="http://x:1"), spec)[2] == "first 7\n"
    f.write_text("print('second')")
    assert _run(PoolSettings(url="http://x:1"), spec)[2] == "second\n"
    f.unlink()
    _, status, _, error = _run(PoolSettings(url="http://x:1"), spec)
    assert status == "failed" and "cannot read the callback file" in (error or "")


def _job_lookup(job: int, work: str | None) -> tuple[Any, Any]:
    j = {"id": job, "name": "shot", "status": "running", "user": "ann", "pgrp": job,
         "label": "render", "todotally": {"complete": 1, "pending": 3},
         "fields": {"mailaddress": "Ann <ann@example.com>, bob@example.com"}}  # fmt: skip
    w = None if work is None else {"name": work, "status": "complete", "host": "n1", "retry": 0}
    return j, w


def test_mail_sends_the_items_status_to_the_job_s_addresses() -> None:
    with smtp_server() as (inbox, port):
        smtp = SmtpSettings(host="127.0.0.1", port=port, sender="farm@example.com")
        spec = _spec("mail", "see the dailies", output="unblock 7\n")
        _, status, out, error = _run(PoolSettings(url="http://x:1", smtp=smtp), spec, _job_lookup)
        assert (status, error) == ("complete", None), out
        assert out.startswith("unblock 7\nmailed 'triggerfish: work 7:5 (shot) complete'")
        [msg] = inbox.wait_for(1)
        assert inbox.envelopes == [("farm@example.com", ["ann@example.com", "bob@example.com"])]
        body = msg.get_content()
        assert "work 7:5 is complete." in body and "host:       n1" in body
        assert "see the dailies" in body and "items:      complete 1, pending 3" in body
        # a job event: the job's status
        job_ev = _spec("mail", event={"seq": 50, "name": "done", "type": "job", "job": 7})
        _run(PoolSettings(url="http://x:1", smtp=smtp), job_ev, _job_lookup)
        assert inbox.wait_for(2)[1]["Subject"] == "triggerfish: job 7 (shot) running"


def test_mail_over_starttls_with_a_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a site CA the system does not know: trusted through SSL_CERT_FILE, as docs/callbacks.md says
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    ca_file = tmp_path / "site-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    login = Login("farm", "s3cret")
    with smtp_server(tls=server_tls, login=login) as (inbox, port):
        smtp = SmtpSettings(host="127.0.0.1", port=port, sender="farm@example.com", tls=True,
                            user="farm", password="s3cret")  # fmt: skip
        # without the CA the certificate is refused, and the run says so
        _, status, _, error = _run(PoolSettings(url="http://x:1", smtp=smtp), _spec("mail"),
                                   _job_lookup)  # fmt: skip
        assert status == "failed" and "CERTIFICATE_VERIFY_FAILED" in (error or "")
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        _, status, out, error = _run(PoolSettings(url="http://x:1", smtp=smtp), _spec("mail"),
                                     _job_lookup)  # fmt: skip
        assert (status, error) == ("complete", None), out
        [msg] = inbox.wait_for(1)
        assert msg["Subject"] == "triggerfish: work 7:5 (shot) complete"
        assert login.logins == ["farm"]
        bad = SmtpSettings(host="127.0.0.1", port=port, tls=True, user="farm", password="wrong")
        _, status, _, error = _run(PoolSettings(url="http://x:1", smtp=bad, timeout=5),
                                   _spec("mail"), _job_lookup)  # fmt: skip
        assert status == "failed" and "535" in (error or ""), error  # refused, and said so


def test_mail_to_a_server_that_is_not_there_fails_the_run_saying_why() -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=free_port())
    _, status, _, error = _run(PoolSettings(url="http://x:1", smtp=smtp, timeout=5),
                               _spec("mail"), _job_lookup)  # fmt: skip
    assert status == "failed"
    assert "mail to ann@example.com, bob@example.com via 127.0.0.1:" in (error or "")


def test_mail_without_an_address_is_skipped() -> None:
    def lookup(job: int, work: str | None) -> tuple[Any, Any]:
        return {"id": job, "name": "x", "status": "complete", "fields": {}}, None

    spec = _spec("mail", event={"seq": 1, "name": "done", "type": "job", "job": 7})
    _, status, out, _ = _run(PoolSettings(url="http://x:1"), spec, lookup)
    assert status == "complete" and out == "skipped: job 7 has no mailaddress"


def test_a_run_has_a_cpu_time_limit_that_outlives_the_supervisor() -> None:
    """If the supervisor dies, nobody enforces the time limit: the kernel's CPU-time limit
    (time limit + a margin) ends a looping run instead. The run reads its own limit (it lands
    just after the process starts, so the code waits for it)."""
    code = (
        "import resource, time\n"
        "for _ in range(200):\n"
        "    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)\n"
        "    if soft != resource.RLIM_INFINITY:\n"
        "        break\n"
        "    time.sleep(0.01)\n"
        "print(soft, hard)\n"
    )
    _, status, out, error = _run(PoolSettings(url="http://x:1", timeout=7.5), _spec("python", code))
    assert (status, error) == ("complete", None)
    assert out.split() == ["13", "18"]  # ceil(7.5) + 5, and 5 more before SIGKILL
