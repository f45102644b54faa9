"""A job's events: its log (``JobEvent`` rows, shown on the job page in both modes) and live
progress pushed to the browser over the channel layer (Redis in production)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from enrichment.models import EnrichmentJob, JobEvent

logger = logging.getLogger(__name__)


def job_group(job_id: int) -> str:
    return f"job-{job_id}"


def job_progress_payload(job: EnrichmentJob) -> dict:
    return {
        "job": job.pk,
        "status": job.status,
        "total": job.total_items,
        "processed": job.processed_items,
        "succeeded": job.succeeded_items,
        "failed": job.failed_items,
        "percent": job.progress_percent,
        "cost": str(job.cost),
        "message": job.error_message,
    }


def job_event(job_id: int, kind: str, message: str) -> None:
    """Log ``message`` on the job and push it, with the job's counts, to its watchers."""
    JobEvent.objects.create(job_id=job_id, kind=kind, message=message[:500])
    _push(job_id, {"event": kind, "message": message[:500]})


def job_progress(job_id: int) -> None:
    """Push the job's counts to its watchers (``enrichment_progress``), item by item."""
    _push(job_id, {"event": "enrichment_progress"})


def _push(job_id: int, extra: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    # Not the options: they hold the file's known addresses, which grow with the file, and
    # this runs once per item (loading them made a job's time quadratic in its rows).
    job = EnrichmentJob.objects.defer("options").filter(pk=job_id).first()
    if job is None:
        return
    payload = {**job_progress_payload(job), **extra}
    try:
        async_to_sync(layer.group_send)(
            job_group(job_id), {"type": "job.progress", "payload": payload}
        )
    except Exception:  # noqa: BLE001 - watchers are a nicety; the job goes on without them
        logger.warning("job progress not pushed", extra={"job": job_id}, exc_info=True)
