"""Celery tasks of the providers app: thin shells over providers.reveals.

``providers.expire_phone_reveals`` runs hourly from ``CELERY_BEAT_SCHEDULE`` (config/settings.py).
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from providers import reveals


@shared_task(name="providers.expire_phone_reveals")
def expire_phone_reveals(max_age_hours: float = reveals.DEFAULT_TTL.total_seconds() / 3600) -> dict:
    """Mark phone reveals still waiting for their webhook after ``max_age_hours`` as expired."""
    return {"expired": reveals.phone_reveals_expire(older_than=timedelta(hours=max_age_hours))}
