"""Server-rendered pages (HTMX where it helps): the review page and the job pages."""

from __future__ import annotations

import csv
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from budgets.models import Project
from contacts.models import EnrichedContact, ReviewStatus
from enrichment import exports, jobs, selectors, tasks, uploads
from enrichment.csvio import CsvError, infer_mapping, parse_csv
from enrichment.forms import JobUploadForm, MappingForm
from enrichment.models import EnrichmentJob, ItemStatus
from enrichment.waterfall import DEFAULT_MIN_CONFIDENCE

#: Uploads awaiting their mapping review that one session keeps (older ones are dropped).
MAX_DRAFTS = 5
SAMPLE_ROWS = 5
LOG_LINES = 200


def _check_viewer(user) -> None:
    # Jobs and contacts hold personal data: only staff who may view contacts see them.
    if not (user.is_staff and user.has_perm("contacts.view_enrichedcontact")):
        raise PermissionDenied("Staff with the permission to view contacts only.")


def _get_job_for_user(request, job_id: int) -> EnrichmentJob:
    _check_viewer(request.user)
    job = selectors.job_get_for_user(user=request.user, job_id=job_id)
    if job is None:
        raise Http404("No such job.")
    return job


@login_required
@require_GET
def home(request):
    _check_viewer(request.user)
    context = {
        "jobs": selectors.job_list_recent(),
        "contacts": selectors.contact_list_for_review(),
        "pending_count": EnrichedContact.objects.filter(review_status=ReviewStatus.PENDING).count(),
    }
    # An HTMX poll refreshes only the jobs table; the page and fragment share one template.
    if request.htmx and request.htmx.target == "jobs":
        return render(request, "enrichment/_jobs.html", context)
    return render(request, "enrichment/home.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def job_new(request):
    _check_viewer(request.user)
    form = JobUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        token = uploads.upload_save(raw=form.raw)
        drafts = dict(request.session.get("job_drafts", {}))
        drafts[token] = form.draft()
        for stale in list(drafts)[:-MAX_DRAFTS]:
            uploads.upload_delete(token=stale)
            del drafts[stale]
        request.session["job_drafts"] = drafts
        return redirect("job-mapping", token=token)
    context = {"form": form, "max_upload": uploads.MAX_UPLOAD_BYTES}
    return render(request, "enrichment/job_new.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def job_mapping(request, token: str):
    _check_viewer(request.user)
    # The token must be one this session was given: another user's upload is not reachable.
    draft = request.session.get("job_drafts", {}).get(token)
    raw = uploads.upload_read(token=token) if draft is not None else None
    if raw is None:
        messages.error(request, "That upload is no longer here; upload the file again.")
        return redirect("job-new")
    try:
        table = parse_csv(raw, lenient=True)
    except CsvError as exc:  # the same bytes parsed at upload; kept for a changed parser
        messages.error(request, f"{draft['file_name']}: {exc}")
        return redirect("job-new")
    form = MappingForm(
        request.POST or None, headers=table.headers, inferred=infer_mapping(table.headers)
    )
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                job = jobs.job_create(
                    rows=table.rows,
                    problems=table.problems,
                    headers=table.headers,
                    mapping=form.cleaned_data["mapping"],
                    name=draft["name"],
                    fields=draft["fields"],
                    providers=draft["providers"],
                    offline=draft["offline"],
                    min_confidence=draft.get("min_confidence", DEFAULT_MIN_CONFIDENCE),
                    project=Project.objects.filter(pk=draft["project"]).first()
                    if draft["project"]
                    else None,
                    cost_cap=_decimal(draft["cost_cap"]),
                    cost_cap_per_lead=_decimal(draft["cost_cap_per_lead"]),
                    created_by=request.user,
                    via="browser",
                    webhook_url=draft.get("webhook_url", ""),
                )
                tasks.job_enqueue(job.pk)  # queued when this transaction commits
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            uploads.upload_delete(token=token)
            drafts = dict(request.session.get("job_drafts", {}))
            drafts.pop(token, None)
            request.session["job_drafts"] = drafts
            return redirect("job-detail", job_id=job.pk)
    context = {
        "form": form,
        "draft": draft,
        "columns": [
            (header, field, [row.get(header, "") for row in table.rows[:SAMPLE_ROWS]])
            for header, field in form.columns()
        ],
        "row_count": len(table.rows),
        "problems": [str(problem) for problem in table.problems[:5]],
        "problem_count": len(table.problems),
    }
    return render(request, "enrichment/job_mapping.html", context)


def _decimal(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None else None


@login_required
@require_GET
def job_detail(request, job_id: int):
    job = _get_job_for_user(request, job_id)
    events = list(job.events.order_by("-created_at", "-pk")[:LOG_LINES])
    events.reverse()  # newest last, as a log reads
    skipped = job.processed_items - job.succeeded_items - job.failed_items
    context = {
        "job": job,
        "events": events,
        "skipped": skipped,
        "problems": job.failed_items + skipped,
        "columns": exports.job_available_columns(job),
        "default_columns": set(exports.job_columns(job)),
    }
    # The poll asks for the status block only; the page includes the same fragment.
    if request.htmx:
        return render(request, "enrichment/_job_status.html", context)
    return render(request, "enrichment/job_detail.html", context)


@login_required
@require_POST
def job_cancel(request, job_id: int):
    job = _get_job_for_user(request, job_id)
    if job.is_terminal:
        messages.info(request, f"The job is already {job.get_status_display().lower()}.")
    else:
        jobs.job_cancel(job=job)
        messages.success(request, "Job cancelled: rows not yet done are skipped.")
    return redirect("job-detail", job_id=job.pk)


@login_required
@require_POST
def job_resume(request, job_id: int):
    job = _get_job_for_user(request, job_id)
    with transaction.atomic():
        resumed = jobs.job_resume(job=job)
        if resumed:
            tasks.job_enqueue(job.pk)
    if resumed:
        messages.success(request, "Job resumed.")
    else:
        messages.info(request, "The job is not paused.")
    return redirect("job-detail", job_id=job.pk)


@login_required
@require_POST
def job_retry_failed(request, job_id: int):
    job = _get_job_for_user(request, job_id)
    with transaction.atomic():
        count = jobs.job_retry_failed(job=job)
        if count:
            tasks.job_enqueue(job.pk)
    if count:
        messages.success(request, f"{count} failed row(s) queued again.")
    else:
        messages.info(request, "No failed rows to retry.")
    return redirect("job-detail", job_id=job.pk)


@login_required
@require_GET
def job_export(request, job_id: int):
    """The job's results as a streamed CSV.

    ``col`` (repeated) chooses columns, ordered by optional ``at:<column>`` positions;
    ``columns`` is the same as one comma-separated value (CSV quoting for names with commas).
    ``status`` (comma-separated item statuses) keeps only those rows: ``failed,skipped`` is
    the error report, which starts with the row number, status and reason.
    """
    job = _get_job_for_user(request, job_id)
    statuses = [s for s in request.GET.get("status", "").split(",") if s]
    unknown = [s for s in statuses if s not in ItemStatus.values]
    if unknown:
        return _bad_request(
            f"unknown status(es): {', '.join(unknown)}; use {', '.join(ItemStatus.values)}"
        )
    available = exports.job_available_columns(job)
    if "col" in request.GET:
        chosen = request.GET.getlist("col")
        try:
            positions = {c: int(request.GET[f"at:{c}"]) for c in chosen if f"at:{c}" in request.GET}
        except ValueError:
            return _bad_request("column positions must be whole numbers")
        order = {c: positions.get(c, len(chosen) + i) for i, c in enumerate(chosen)}
        chosen = sorted(chosen, key=lambda c: order[c])
    elif "columns" in request.GET:
        chosen = next(csv.reader([request.GET["columns"]]), [])
    elif statuses:
        chosen = [*exports.ITEM_COLUMNS, *exports.job_columns(job)]
    else:
        chosen = exports.job_columns(job)
    try:
        columns = exports.choose_columns(available, [c.strip() for c in chosen])
    except ValueError as exc:
        return _bad_request(f"{exc}; the job's columns are: {', '.join(available)}")
    suffix = "-errors" if statuses else ""
    response = StreamingHttpResponse(
        exports.stream_csv(columns, exports.job_rows(job, statuses=statuses)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}{suffix}.csv"'
    return response


def _bad_request(message: str) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(message + "\n", content_type="text/plain; charset=utf-8")
