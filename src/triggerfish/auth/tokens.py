"""API tokens: made random, shown once, stored hashed; the local admin token's file.

A token is 256 random bits (``tf_`` + URL-safe base64). The database keeps only its SHA-256;
a presented token is hashed and looked up by that hash, and the stored hash compared in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from triggerfish.errors import TriggerfishError
from triggerfish.settings import default_data_dir

logger = logging.getLogger(__name__)
PREFIX = "tf_"
LOCAL_TOKEN_FILE = "admin.token"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def local_token_path(data_dir: Path) -> Path:
    return data_dir / LOCAL_TOKEN_FILE


def ensure_local_token(data_dir: Path) -> str:
    """The local admin token of a supervisor: read from ``<data dir>/admin.token``, created
    (mode 0600, owner only) when missing."""
    path = local_token_path(data_dir)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = read_token_file(path)
        if token is None:
            raise TriggerfishError(
                f"{path} holds no token; remove it to have a new one made"
            ) from None
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
            logger.warning("%s was readable by others; its mode is now 0600", path,
                           extra={"action": "auth.token_file_mode"})  # fmt: skip
        return token
    token = new_token()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    logger.info("local admin token written to %s", path, extra={"action": "auth.local_token"})
    return token


def read_token_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def is_loopback(host: str) -> bool:
    """``127.x.x.x``, ``::1`` or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def find_token(
    token: str | None = None, data_dir: Path | str | None = None, url: str | None = None
) -> str | None:
    """The token a client sends: ``token``, else ``TRIGGERFISH_TOKEN``, else the local admin
    token in the data dir (``data_dir``, else ``TRIGGERFISH_DATA_DIR``, else the per-user
    data dir), else None. The local admin token goes only to a supervisor on this machine:
    never to a ``url`` whose host is not a loopback address."""
    if token:
        return token
    env = os.environ.get("TRIGGERFISH_TOKEN")
    if env:
        return env
    if url is not None and not is_loopback(urlsplit(url).hostname or ""):
        return None
    where = Path(data_dir) if data_dir else default_data_dir()
    return read_token_file(local_token_path(where))
