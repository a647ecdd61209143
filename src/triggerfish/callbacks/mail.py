"""The ``mail`` callback language and the ``mail-status`` qube action: a status mail over SMTP.

The mail says the status of the callback's job, or of the item the firing names (a work event or
a ``$f`` binding), and goes to the job's ``mailaddress`` (a comma-separated list is fine). It is
sent by a runner thread, never by the engine; the run records what was sent, or why not.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any


@dataclass
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    sender: str = ""  # empty: triggerfish@<this host>
    tls: bool = False  # STARTTLS after connecting
    user: str | None = None
    password: str | None = None

    @property
    def from_address(self) -> str:
        return self.sender or f"triggerfish@{socket.getfqdn()}"


def recipients(mailaddress: str | None) -> list[str]:
    return [addr for _, addr in getaddresses([mailaddress or ""]) if addr]


def mailaddress_of(job: Mapping[str, Any]) -> str | None:
    """A job's ``mailaddress``: a column of the job dict, or one of its other ``fields``."""
    value = job.get("mailaddress") or (job.get("fields") or {}).get("mailaddress")
    return None if value is None else str(value)


def _when(t: Any) -> str:
    return "-" if not t else time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(float(t)))


def compose(
    job: Mapping[str, Any],
    work: Mapping[str, Any] | None,
    event: Mapping[str, Any],
    sender: str,
    note: str = "",
) -> EmailMessage:
    """The status mail of ``job`` (or of its item ``work``), triggered by ``event``."""
    jid, name = job["id"], job.get("name") or ""
    if work is not None:
        what, status = f"work {jid}:{work['name']}", str(work.get("status"))
    else:
        what, status = f"job {jid}", str(job.get("status"))
    msg = EmailMessage()
    msg["Subject"] = f"triggerfish: {what} ({name}) {status}"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients(mailaddress_of(job)))
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid("triggerfish")
    tally = job.get("todotally") or {}
    lines = [
        f"{what} is {status}.",
        "",
        f"job:        {jid} {name}",
        f"status:     {job.get('status')}",
        f"user:       {job.get('user') or '-'}",
        f"pgrp/label: {job.get('pgrp')}/{job.get('label') or '-'}",
        "items:      " + (", ".join(f"{k} {v}" for k, v in sorted(tally.items())) or "-"),
        f"submitted:  {_when(job.get('timesubmit'))}",
        f"started:    {_when(job.get('timestart'))}",
        f"ended:      {_when(job.get('timecomplete'))}",
    ]
    if work is not None:
        lines += [
            "",
            f"item:       {work['name']}",
            f"status:     {work.get('status')}",
            f"host:       {work.get('host') or '-'}",
            f"retries:    {work.get('retry', 0)}",
        ]
    ev = f"{event.get('name')}-{event.get('type')}"
    lines += ["", f"(sent for the event {ev} #{event.get('seq')})"]
    if note.strip():
        lines += ["", note.strip()]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def send(settings: SmtpSettings, msg: EmailMessage, timeout: float) -> None:
    """Deliver ``msg``; raises OSError / smtplib.SMTPException when it cannot."""
    with smtplib.SMTP(settings.host, settings.port, timeout=timeout) as smtp:
        if settings.tls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(msg)
