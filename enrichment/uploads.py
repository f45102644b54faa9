"""A CSV file uploaded in the browser, kept between the upload and the mapping review.

The bytes go to a private file under ``var/uploads`` named by an unguessable token, which only
the uploader's session holds: every web process of the deployment reads the same directory,
so the second step may land on another process than the first. The file is removed once the
job is created (its rows are then the job's items), and files older than a day are swept away
at each new upload.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from django.conf import settings

#: The largest file the upload page takes.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: A draft nobody finished is removed after this many seconds.
DRAFT_MAX_AGE = 24 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


def upload_dir() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def upload_save(*, raw: bytes) -> str:
    """Keep ``raw`` and return the token that names it."""
    folder = upload_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    uploads_sweep(older_than=DRAFT_MAX_AGE)
    token = secrets.token_urlsafe(24)
    path = folder / token
    # Created private (0600): uploaded leads are personal data.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    return token


def upload_read(*, token: str) -> bytes | None:
    """The bytes kept under ``token``; None if there are none (expired, or a bad token)."""
    if not _TOKEN.fullmatch(token):
        return None
    try:
        return (upload_dir() / token).read_bytes()
    except FileNotFoundError:
        return None


def upload_delete(*, token: str) -> None:
    if _TOKEN.fullmatch(token):
        (upload_dir() / token).unlink(missing_ok=True)


def uploads_sweep(*, older_than: float) -> int:
    """Remove drafts older than ``older_than`` seconds; returns how many."""
    cutoff = time.time() - older_than
    removed = 0
    for path in upload_dir().glob("*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another process swept it first
    return removed
