"""Signed completion webhooks: a job that ends (completed or cancelled) is POSTed to its URL.

The body is JSON (:func:`job_webhook_payload`). The signature header is
``X-Leadforge-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the
deployment's ``ENRICH_WEBHOOK_SECRET``; receivers check it with :func:`signature_verify` (or the
same few lines in their language) and refuse old timestamps. The process that ends the job sends
the first attempt once its transaction commits; failed attempts are retried by the
``enrichment.deliver_job_webhook`` task with backoff. Each outcome is a line in the job's log.
The request goes through the providers' guarded transport: no private addresses, no redirects
to them, bounded time and size.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.db import transaction

from enrichment import events
from enrichment.models import EnrichmentJob, JobEventKind
from providers.adapters.base import RequestSpec
from providers.errors import ProviderError
from providers.http import HttpTransport

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Leadforge-Signature"
#: Attempts in all (the first inline, the rest as tasks) and the waits between them.
RETRY_DELAYS = (10, 60, 300, 1800)
TIMEOUT_SECONDS = 10.0
#: A receiver should refuse a signature older than this (replays).
TOLERANCE_SECONDS = 300


class WebhookConfigError(ValueError):
    """A webhook cannot be set up as asked (no secret configured, a URL that is not http(s))."""


def webhook_url_check(url: str) -> str:
    """The URL as it will be used; raises :class:`WebhookConfigError` with a one-line reason."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookConfigError(f"webhook URL must be http(s) with a host: {url[:100]!r}")
    if not settings.ENRICH_WEBHOOK_SECRET:
        raise WebhookConfigError(
            "set ENRICH_WEBHOOK_SECRET to sign completion webhooks before giving a webhook URL"
        )
    return url


def signature_header(body: bytes, *, secret: str, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def signature_verify(
    body: bytes, header: str, *, secret: str, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and is not older than ``tolerance``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - stamp) > tolerance:
        return False
    expected = signature_header(body, secret=secret, timestamp=stamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def job_webhook_payload(job: EnrichmentJob) -> dict:
    return {
        "event": JobEventKind.COMPLETED.value,
        "job": {
            "id": job.pk,
            "name": job.name,
            "type": job.job_type,
            "status": job.status,
            "total_items": job.total_items,
            "processed_items": job.processed_items,
            "succeeded_items": job.succeeded_items,
            "failed_items": job.failed_items,
            "cost": str(job.cost),
            "completed_at": job.completed_at.isoformat() if job.completed_at else None,
        },
    }


def job_webhook_queue(*, job_id: int) -> None:
    """Send the job's webhook, if it has one, once the current transaction commits."""
    url = EnrichmentJob.objects.filter(pk=job_id).values_list("options__webhook_url", flat=True)
    if url.first():
        delivery = uuid.uuid4().hex
        transaction.on_commit(lambda: job_webhook_deliver(job_id=job_id, delivery=delivery))


def job_webhook_deliver(*, job_id: int, delivery: str, attempt: int = 0) -> bool:
    """One attempt; queues the next on failure until :data:`RETRY_DELAYS` run out."""
    job = EnrichmentJob.objects.filter(pk=job_id).first()
    url = (job.options or {}).get("webhook_url") if job else None
    if not url:
        return False
    body = json.dumps(job_webhook_payload(job), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Leadforge-Event": JobEventKind.COMPLETED.value,
        "X-Leadforge-Delivery": delivery,
        SIGNATURE_HEADER: signature_header(body, secret=settings.ENRICH_WEBHOOK_SECRET),
    }
    host = urlsplit(url).hostname or "?"  # the log names the host only: URLs may hold tokens
    try:
        with HttpTransport(timeout=TIMEOUT_SECONDS, max_bytes=64 * 1024) as transport:
            response = transport.send(RequestSpec("POST", url, headers=headers, data=body))
        failure = None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except ProviderError as exc:
        failure = exc.code
    if failure is None:
        events.job_event(job_id, JobEventKind.PROGRESS, f"webhook delivered to {host}")
        return True
    if attempt < len(RETRY_DELAYS):
        delay = RETRY_DELAYS[attempt]
        events.job_event(
            job_id, JobEventKind.ERROR, f"webhook to {host} failed ({failure}); again in {delay} s"
        )
        current_app.send_task(
            "enrichment.deliver_job_webhook",
            kwargs={"job_id": job_id, "delivery": delivery, "attempt": attempt + 1},
            countdown=delay,
        )
    else:
        events.job_event(
            job_id,
            JobEventKind.ERROR,
            f"webhook to {host} failed ({failure}) after {attempt + 1} attempts; not sent",
        )
    return False
