"""Logging in to the web page: the session cookie, its CSRF token, the same permissions as
the API; and the event stream the page follows (Server-Sent Events)."""

from __future__ import annotations

import json
import re

import httpx
from webtab import Tab, login

from triggerfish.cli.local import LocalFarm

JOB = {"name": "web-session", "package": {"cmdline": "sleep 30"}}


def _session(farm: LocalFarm, token: str) -> tuple[httpx.Client, str]:
    """An HTTP client logged in through the form, and the session's CSRF token (read off the
    page, as the page's script does)."""
    c = httpx.Client(base_url=farm.url, timeout=10, headers={"Origin": farm.url})
    r = c.post("/login", data={"token": token, "next": "/"})
    assert r.status_code == 303, r.text
    page = c.get("/")
    assert page.status_code == 200
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert m is not None
    return c, m.group(1)


def test_a_wrong_token_is_refused_and_the_right_one_logs_in(
    farm: LocalFarm, browser: object
) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(farm.url + "/hosts")
    assert "/login" in page.url  # no session: the login form, remembering where to go
    page.fill("input[name=token]", "not-a-token")
    page.click("form.login button[type=submit]")
    assert "does not log in" in page.inner_text("#login-error")
    assert context.cookies() == []
    assert farm.token is not None
    login(page, farm.url, farm.token, "/hosts")
    (cookie,) = context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
        "tf_session",
        True,
        "Strict",
    )
    assert farm.token not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # not readable by scripts
    page.click("header form.who button")  # log out
    page.wait_for_url(farm.url + "/login")
    assert context.cookies() == []
    context.close()


def test_the_page_is_served_logged_in(tab: Tab) -> None:
    tab.goto("/")
    assert tab.page.title().startswith("Jobs")  # type: ignore[attr-defined]


def test_a_change_needs_the_csrf_token(farm: LocalFarm) -> None:
    assert farm.token is not None
    c, csrf = _session(farm, farm.token)
    with farm.client() as api:
        (job,) = api.submit(JOB)
    try:
        assert c.get(f"/api/v1/jobs/{job['id']}").status_code == 200  # a read: the cookie will do
        r = c.post(f"/api/v1/jobs/{job['id']}/block")
        assert r.status_code == 401 and "CSRF" in r.json()["error"]["message"]
        assert (
            c.post(
                f"/api/v1/jobs/{job['id']}/block", headers={"X-CSRF-Token": "x" + csrf}
            ).status_code
            == 401
        )
        with farm.client() as api:
            assert api.job(job["id"])["status"] != "blocked"  # refused: nothing changed
        r = c.post(f"/api/v1/jobs/{job['id']}/block", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
        with farm.client() as api:
            assert api.job(job["id"])["status"] == "blocked"
    finally:
        with farm.client() as api:
            api.kill(job["id"])


def test_a_session_has_the_permissions_of_its_token(farm: LocalFarm) -> None:
    with farm.client() as api:
        token = api.add_user("viewer-web", ["submit"])["token"]
        (job,) = api.submit(JOB)
    try:
        c, csrf = _session(farm, token)
        r = c.post(f"/api/v1/jobs/{job['id']}/kill", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 403, r.text  # not this user's job, not an admin
        assert c.get("/api/v1/users").status_code == 403
    finally:
        with farm.client() as api:
            api.kill(job["id"])


def test_a_forged_cookie_and_a_foreign_login_form_are_refused(farm: LocalFarm) -> None:
    assert farm.token is not None
    c, _ = _session(farm, farm.token)
    cookie = c.cookies["tf_session"]
    forged = httpx.Client(base_url=farm.url, cookies={"tf_session": cookie[:-2] + "AA"})
    assert forged.get("/api/v1/jobs").status_code == 401
    assert forged.get("/", follow_redirects=False).status_code == 303
    other = httpx.post(farm.url + "/login", data={"token": farm.token},
                       headers={"Origin": "http://evil.example"})  # fmt: skip
    assert other.status_code == 403 and "tf_session" not in other.cookies


def test_the_event_stream_sends_what_is_committed(farm: LocalFarm) -> None:
    with farm.client() as api:
        head = api.event_head()
        headers = {"Authorization": f"Bearer {farm.token}"}
        with httpx.stream("GET", f"{farm.url}/api/v1/events/stream", params={"after": head},
                          headers=headers, timeout=20) as r:  # fmt: skip
            assert r.headers["content-type"].startswith("text/event-stream")
            (job,) = api.submit({**JOB, "package": {"cmdline": "true"}})
            seen: list[dict[str, object]] = []
            last = None
            for line in r.iter_lines():
                if line.startswith("id: "):
                    last = int(line[4:])
                elif line.startswith("data: "):
                    seen += json.loads(line[6:])
                    if any(
                        e["job"] == job["id"] and (e["type"], e["name"]) == ("job", "complete")
                        for e in seen
                    ):
                        break
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs) and seqs[0] == head + 1 and last == seqs[-1]
    assert [e["seq"] for e in api_events(farm, head, seqs[-1])] == seqs  # all, in order


def api_events(farm: LocalFarm, after: int, upto: int) -> list[dict[str, object]]:
    with farm.client() as api:
        return [e for e in api.all_events(since=after) if int(e["seq"]) <= upto]
