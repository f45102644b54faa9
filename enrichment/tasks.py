"""Celery tasks: thin shells over enrichment.services, taking ids and queued on commit."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

from enrichment import services
from enrichment.emails.smtp_replies import greylist_retry_delay
from enrichment.models import EnrichmentJob, JobStatus

logger = logging.getLogger(__name__)

#: Greylisted probes are retried this many times before the address stays "unknown".
GREYLIST_MAX_RETRIES = 4


@shared_task(bind=True, max_retries=3, name="enrichment.process_email_job")
def process_email_job(self, job_id: int, smtp: bool | None = None) -> dict:
    """Find and verify the emails of a job's rows. Safe to run twice: a second worker finds
    the job claimed, a re-delivered task after a crash only does the unfinished items."""
    smtp = settings.ENRICH_SMTP_PROBE if smtp is None else smtp
    if not services.job_claim(job_id=job_id):
        job = EnrichmentJob.objects.filter(pk=job_id).only("status").first()
        if (
            job is None
            or job.status != JobStatus.PROCESSING
            or not self.request.delivery_info.get("redelivered")
        ):
            return {"job": job_id, "skipped": True}
    try:
        job = services.job_process_emails(job_id=job_id, smtp=smtp)
    except Exception as exc:
        EnrichmentJob.objects.filter(pk=job_id).update(
            status=JobStatus.RETRYING, error_message=str(exc)[:2000]
        )
        if self.request.retries >= self.max_retries:
            EnrichmentJob.objects.filter(pk=job_id).update(status=JobStatus.FAILED)
            raise
        raise self.retry(exc=exc, countdown=5 * 3**self.request.retries) from exc
    retry_greylisted_later(job.greylisted, attempt=0)
    return {"job": job_id, "processed": job.processed_items, "succeeded": job.succeeded_items}


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
