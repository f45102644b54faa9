"""The Celery application: broker from settings (Redis, or SQLite in the embedded mode)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("leadforge")
# Every CELERY_* setting in config/settings.py configures the app: acks_late, reject on
# worker loss and prefetch 1 live there so a task killed mid-item runs again, once.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(bind=True, name="config.ping")
def ping(self) -> dict:
    """A no-op task used by health checks and tests to prove a worker is consuming."""
    return {"pong": True, "acks_late": bool(self.request.delivery_info and self.acks_late)}
