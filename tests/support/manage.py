"""Run a management command as ``manage.py`` does: argument parsing, ``CommandError`` printed
as one line on standard error, and the exit status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management import execute_from_command_line
from django.db import connections


@dataclass
class Run:
    status: int
    out: str
    err: str


def manage(monkeypatch: Any, capsys: Any, *argv: str) -> Run:
    """``python manage.py *argv`` in this process, against the test database."""
    # A command run from the command line closes every database connection when it ends;
    # here that would end the test's own transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    # It also sets logging up again, with handlers on this test's captured streams, which
    # later tests would then write to after they are closed.
    monkeypatch.setattr(settings, "LOGGING_CONFIG", None)
    capsys.readouterr()
    try:
        execute_from_command_line(["manage.py", *argv])
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return Run(status, out, err)
