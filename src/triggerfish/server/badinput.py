"""Text a store cannot hold, refused at the edge: one check for every route of the app.

:func:`check_request` is a dependency of the whole app (every route runs it before its own
parameters and body are validated): a NUL in the path or a query parameter, and a NUL or a lone
surrogate anywhere in a JSON body, are answered 422 naming the parameter or the JSON path
(``jobs[0].package.cmdline``). A body without an escape that could spell one (``\\u0000``,
``\\udXXX``) is not parsed again (:func:`triggerfish.model.text.suspect`).

A worker's report and log chunks are not refused (the worker cannot change what a task
returned or printed): their models replace such text instead (``api.schemas``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from triggerfish.model.text import check_json, refusal, suspect

WORKERS = "/api/v1/workers/"
SCRUBBED = ("/report", "/log")  # (under WORKERS: replaced, not refused)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _check_url(raw_path: bytes, query: bytes) -> None:
    if b"%00" in raw_path:
        raise refusal("path", "a NUL character")
    if b"%00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:  # (parse_qsl decodes %00)
                raise refusal(name.replace("\x00", "") or "query", "a NUL character")
        raise refusal("query", "a NUL character")


def root_of(path: str, body: Any) -> str:
    """The name a JSON path of the body starts with: a list of jobs is ``jobs[i]`` as
    everywhere else; another list is ``body[i]``; a dict's keys are fields themselves."""
    if not isinstance(body, list):
        return ""
    return "jobs" if path.endswith("/jobs") else "body"


def scrubbed(path: str) -> bool:
    """A worker's report or log: its text is replaced, not refused."""
    return path.startswith(WORKERS) and path.endswith(SCRUBBED)


def check_body(path: str, raw: bytes) -> None:
    """Raise ValidationError naming the first string of the JSON body ``raw`` that holds a
    NUL or a lone surrogate; a body that is no JSON is the route's to refuse."""
    if not suspect(raw):
        return
    try:
        body = json.loads(raw)
    except ValueError:  # (UnicodeDecodeError too)
        return
    check_json(body, root_of(path, body))


async def check_request(request: Request) -> None:
    """The app's dependency: refuse a NUL in the URL, and bad text in a JSON body."""
    scope = request.scope
    _check_url(scope.get("raw_path") or b"", scope.get("query_string") or b"")
    if request.method in BODY_METHODS and not scrubbed(scope["path"]):
        check_body(scope["path"], await request.body())
