"""Celery tasks of the providers app: thin shells over providers.reveals and providers.ledger.

``providers.expire_phone_reveals`` runs hourly and ``providers.drain_ledger`` every minute, from
``CELERY_BEAT_SCHEDULE`` (config/settings.py). A worker's child process drains the ledger
buffer before it exits (``worker_process_shutdown``).
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from celery.signals import worker_process_shutdown

from providers import ledger, reveals


@shared_task(name="providers.expire_phone_reveals")
def expire_phone_reveals(max_age_hours: float = reveals.DEFAULT_TTL.total_seconds() / 3600) -> dict:
    """Mark phone reveals still waiting for their webhook after ``max_age_hours`` as expired."""
    return {"expired": reveals.phone_reveals_expire(older_than=timedelta(hours=max_age_hours))}


@shared_task(name="providers.drain_ledger")
def drain_ledger(timeout_seconds: float = 50.0) -> dict:
    """Move ledger rows buffered in Redis into the table (see :mod:`providers.ledger`)."""
    complete = ledger.flush(timeout=timeout_seconds)
    return {"complete": complete, "pending": ledger.pending()}


@worker_process_shutdown.connect
def drain_before_the_child_exits(**_: object) -> None:
    """A prefork child ends with ``os._exit``, which skips ``atexit``: drain its rows here."""
    ledger.drain_at_exit()
