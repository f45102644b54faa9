"""Celery tasks: thin shells over enrichment.services, taking ids and queued on commit."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

from enrichment import jobs, refresh, services, webhooks
from enrichment.emails.smtp_replies import greylist_retry_delay

logger = logging.getLogger(__name__)

#: Greylisted probes are retried this many times before the address stays "unknown".
GREYLIST_MAX_RETRIES = 4


#: Chunk tasks queued per job at its start: the workers share its items.
PARALLEL_CHUNKS = 2


def job_enqueue(job_id: int, *, parallel: int = PARALLEL_CHUNKS) -> None:
    """Queue the job's work once the current transaction commits."""
    for _ in range(parallel):
        transaction.on_commit(lambda: process_job.delay(job_id))


@shared_task(name="enrichment.process_job")
def process_job(job_id: int) -> dict:
    """Work on a job's items until none is left to claim now. Safe to run many times at once
    and again after a crash: items are claimed with leases (enrichment.jobs). Items waiting
    for a retry bring the task back when they are due."""
    outcome = jobs.job_work(job_id=job_id)
    retry_greylisted_later(outcome.greylisted, attempt=0)
    if outcome.retry_in is not None and not outcome.stopped:
        countdown = min(outcome.retry_in + 0.5, settings.CELERY_MAX_COUNTDOWN)
        process_job.apply_async(args=[job_id], countdown=countdown)
    return {"job": job_id, "processed": outcome.processed, "stopped": outcome.stopped}


@shared_task(name="enrichment.requeue_stalled_jobs")
def requeue_stalled_jobs() -> dict:
    """Queue work for processing jobs whose workers stopped (leases ran out) and for paused
    jobs whose budgets have room again (beat, every minute)."""
    queued = 0
    for job_id in jobs.jobs_needing_work():
        process_job.delay(job_id)
        queued += 1
    return {"queued": queued}


@shared_task(name="enrichment.deliver_job_webhook")
def deliver_job_webhook(job_id: int, delivery: str, attempt: int) -> bool:
    """A later attempt at a job's completion webhook (the first is sent inline)."""
    return webhooks.job_webhook_deliver(job_id=job_id, delivery=delivery, attempt=attempt)


@shared_task(name="enrichment.refresh_stale_contacts")
def refresh_stale_contacts() -> dict:
    """Beat, daily: a scheduled job per project for the contacts enriched longest ago."""
    created = refresh.contacts_refresh_jobs_create()
    for job in created:
        job_enqueue(job.pk)
    return {"jobs": [job.pk for job in created], "items": sum(j.total_items for j in created)}


@shared_task(name="enrichment.verify_contact_emails")
def verify_contact_emails(ids: list[int], smtp: bool = False, attempt: int = 0) -> dict:
    """Re-verify stored addresses; greylisted probes come back later with a countdown."""
    retry = services.contact_emails_verify(ids=ids, smtp=smtp)
    if smtp:
        retry_greylisted_later(retry, attempt=attempt)
    return {"verified": len(ids), "greylisted": len(retry)}


def retry_greylisted_later(retry: dict[int, int], *, attempt: int) -> None:
    """Queue one delayed re-probe per greylisted address (never a busy loop)."""
    if not retry or attempt >= GREYLIST_MAX_RETRIES:
        return
    for email_id, after in retry.items():
        # Capped: a delayed task waits unacknowledged, and one due after the broker's
        # visibility timeout would be delivered again meanwhile (config/settings.py).
        countdown = min(max(after, greylist_retry_delay(attempt)), settings.CELERY_MAX_COUNTDOWN)
        transaction.on_commit(
            lambda i=email_id, c=countdown: verify_contact_emails.apply_async(
                args=([i],), kwargs={"smtp": True, "attempt": attempt + 1}, countdown=c
            )
        )
