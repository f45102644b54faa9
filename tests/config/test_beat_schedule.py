"""Every periodic task declared in settings names a task the worker has."""

from __future__ import annotations

from django.conf import settings

from config.celery import app


def test_the_beat_schedule_names_registered_tasks():
    app.loader.import_default_modules()  # the apps' tasks modules, as a worker loads them

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert "providers.expire_phone_reveals" in scheduled
    assert scheduled <= set(app.tasks)
