"""Reads that span tables, shared by the HTML views, the API and commands."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from contacts.models import ContactEmail, EnrichedContact, ReviewStatus
from enrichment.models import EnrichmentJob


def job_get_for_user(*, user, job_id: int) -> EnrichmentJob | None:
    """The job ``job_id`` if ``user`` may see it: its creator, or staff who may view jobs."""
    if user is None or not user.is_authenticated:
        return None
    job = EnrichmentJob.objects.filter(pk=job_id).first()
    if job is None:
        return None
    if job.created_by_id == user.pk:
        return job
    if user.is_staff and user.has_perm("enrichment.view_enrichmentjob"):
        return job
    return None


def job_list_recent(*, limit: int = 20) -> QuerySet[EnrichmentJob]:
    return EnrichmentJob.objects.select_related("project", "created_by").order_by("-created_at")[
        :limit
    ]


def contact_list_for_review(*, limit: int = 50) -> QuerySet[EnrichedContact]:
    """Contacts awaiting review, most confident first, with their best email in one query."""
    emails = ContactEmail.objects.order_by("-is_primary", "-verification_score")
    return (
        EnrichedContact.objects.filter(review_status=ReviewStatus.PENDING)
        .select_related("linked_brand", "project")
        .prefetch_related(Prefetch("emails", queryset=emails))
        .order_by("-confidence_score", "-discovered_at")[:limit]
    )
