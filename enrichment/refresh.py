"""Jobs nobody uploads: scheduled re-enrichment of stale contacts, and enrichment of a contact
created outside a job. Both build job rows from stored contacts and run on the same engine
(:mod:`enrichment.jobs`); the engine matches each row back to its contact and updates it."""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from contacts.models import EnrichedContact, ReviewStatus
from enrichment.jobs import job_create
from enrichment.models import TERMINAL_JOB_STATUSES, EnrichmentJob, JobType


def contact_row(contact: EnrichedContact) -> dict[str, str]:
    """The contact as a job row keyed by canonical field names (empty values left out)."""
    # ContactEmail's ordering puts the primary, then the best verified, first; read through
    # all() so a prefetch serves it.
    primary = next(iter(contact.emails.all()), None)
    row = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": primary.email if primary else "",
        "title": contact.title,
        "company_name": contact.company,
        "domain": contact.domain,
        "linkedin_url": contact.linkedin_url,
        "country": contact.country,
    }
    return {key: value for key, value in row.items() if value}


def _job_for(contacts: list[EnrichedContact], *, job_type: str, name: str, via: str, **kw):
    rows = [contact_row(c) for c in contacts]
    headers = sorted({key for row in rows for key in row})
    return job_create(
        rows=rows,
        headers=headers,
        mapping={key: key for key in headers},
        name=name,
        fields=settings.ENRICH_AUTO_FIELDS,
        providers=settings.ENRICH_AUTO_PROVIDERS,
        job_type=job_type,
        via=via,
        **kw,
    )


def contacts_refresh_jobs_create(*, now=None) -> list[EnrichmentJob]:
    """One scheduled job per project for the contacts enriched longest ago (at most
    ``ENRICH_REFRESH_BATCH`` in all). None while an earlier scheduled job is unfinished, so a
    slow run is never doubled."""
    days = settings.ENRICH_REFRESH_AFTER_DAYS
    if days <= 0:
        return []
    unfinished = EnrichmentJob.objects.filter(job_type=JobType.SCHEDULED).exclude(
        status__in=TERMINAL_JOB_STATUSES
    )
    if unfinished.exists():
        return []
    cutoff = (now or timezone.now()) - timedelta(days=days)
    stale = (
        EnrichedContact.objects.filter(
            Q(enriched_at__lt=cutoff) | Q(enriched_at__isnull=True, created_at__lt=cutoff)
        )
        .exclude(review_status=ReviewStatus.REJECTED)
        .select_related("project")
        .prefetch_related("emails")
        .order_by(F("enriched_at").asc(nulls_first=True), "created_at")[
            : settings.ENRICH_REFRESH_BATCH
        ]
    )
    contacts = sorted(stale, key=lambda c: c.project_id or 0)
    jobs = []
    for _, group in groupby(contacts, key=lambda c: c.project_id or 0):
        members = list(group)
        project = members[0].project
        label = f" ({project})" if project else ""
        jobs.append(
            _job_for(
                members,
                job_type=JobType.SCHEDULED,
                name=f"Re-enrichment of {len(members)} contacts not enriched for {days} days"
                + label,
                via="beat",
                project=project,
            )
        )
    return jobs


def contact_enrich_trigger(*, contact: EnrichedContact) -> EnrichmentJob:
    """A job of one row for a contact created outside a job."""
    return _job_for(
        [contact],
        job_type=JobType.TRIGGER,
        name=f"Enrichment of new contact {contact}",
        via="contact created",
        project=contact.project,
    )
