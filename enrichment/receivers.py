"""Signal receivers of the enrichment app, connected in ``EnrichmentConfig.ready``."""

from __future__ import annotations

import logging

from django.conf import settings

from contacts.models import EnrichedContact
from enrichment import refresh, tasks

logger = logging.getLogger(__name__)


def contact_created_enrich(sender, instance: EnrichedContact, created: bool, raw: bool, **kw):
    """With ``ENRICH_ON_CONTACT_CREATE``, a contact created outside a job (the admin, the
    API, the shell) gets a job of its own; contacts that jobs create do not start another."""
    if not created or raw or instance.job_id is not None or not settings.ENRICH_ON_CONTACT_CREATE:
        return
    try:
        job = refresh.contact_enrich_trigger(contact=instance)
    except ValueError as exc:
        # A misconfigured ENRICH_AUTO_PROVIDERS must not cost the user the contact they saved.
        logger.warning(
            "no job for the new contact", extra={"contact": instance.pk, "why": str(exc)}
        )
        return
    tasks.job_enqueue(job.pk, parallel=1)
