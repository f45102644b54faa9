"""Tasks loaded only by the worker that the Celery integration tests start."""

from __future__ import annotations

import os
from pathlib import Path

from config.celery import app


@app.task(name="tests.add")
def add(a: int, b: int) -> int:
    return a + b


@app.task(name="tests.crash_once", bind=True)
def crash_once(self, marker: str) -> dict:
    """Kill the worker process the first time; with acks_late the message comes back."""
    path = Path(marker)
    runs = int(path.read_text()) if path.exists() else 0
    path.write_text(str(runs + 1))
    if runs == 0:
        os._exit(1)  # the worker dies mid-task, before acknowledging
    return {"runs": runs + 1, "redelivered": bool(self.request.delivery_info.get("redelivered"))}
