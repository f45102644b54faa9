"""Server-rendered pages (HTMX where it helps)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_GET

from contacts.models import EnrichedContact, ReviewStatus
from enrichment import selectors


@login_required
@require_GET
def home(request):
    # Every pending contact is listed: only staff who may view contacts see them.
    if not (request.user.is_staff and request.user.has_perm("contacts.view_enrichedcontact")):
        raise PermissionDenied("Staff with the permission to view contacts only.")
    context = {
        "jobs": selectors.job_list_recent(),
        "contacts": selectors.contact_list_for_review(),
        "pending_count": EnrichedContact.objects.filter(review_status=ReviewStatus.PENDING).count(),
    }
    # An HTMX poll refreshes only the jobs table; the page and fragment share one template.
    if request.htmx and request.htmx.target == "jobs":
        return render(request, "enrichment/_jobs.html", context)
    return render(request, "enrichment/home.html", context)
