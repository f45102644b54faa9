"""The job engine: every way in creates a job and its items first; workers process the items.

A job is created with one :class:`~enrichment.models.JobItem` per input row
(:func:`job_create`). Workers (Celery tasks, or the ``enrich`` command's own threads) run
:func:`job_work`: they claim a chunk of items with a conditional update and a lease
(pending → processing), process each (the email finder, then the provider waterfall), store
the result on the item and the contact, and claim the next chunk until none is left. A worker
killed mid-item leaves its lease to expire; the next worker claims the item again, and the
stored answers and the ledger (:mod:`providers.client`) make sure nothing is paid twice.

An item that fails is tried again after 5 s, then 15 s; after three attempts it is a dead
letter (``failed``, :func:`job_retry_failed` re-runs them in bulk). A call refused by a budget
or the job's cap pauses the job with the reason (:func:`job_pause`); :func:`job_resume` (or
beat, when the budget has room again) lets it go on. :func:`job_cancel` stops it.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from enrichment import events, results, webhooks
from enrichment.batch import (
    Lead,
    display_names,
    known_from_leads,
    read_leads,
    run_email_step,
)
from enrichment.csvio import RowProblem
from enrichment.emails.mx import MxResolver
from enrichment.emails.patterns import KnownEmail
from enrichment.fields import CANONICAL_FIELDS
from enrichment.models import (
    TERMINAL_ITEM_STATUSES,
    EnrichmentJob,
    ItemStatus,
    JobEventKind,
    JobItem,
    JobStatus,
    JobType,
)
from enrichment.services import (
    OK_STATUSES,
    domain_patterns_learn,
    known_emails_from_providers,
    mark_suppressed,
)
from enrichment.waterfall import (
    DEFAULT_MIN_CONFIDENCE,
    Step,
    apply_answers,
    fill_lead,
    lead_inputs,
    load_steps,
    rank_steps,
)
from providers.errors import BudgetExhausted
from providers.health import provider_rank_stats

logger = logging.getLogger(__name__)

CHUNK_SIZE = 20
MAX_ATTEMPTS = 3
#: Seconds before the second and third attempt of an item that failed.
RETRY_DELAYS = (5, 15)


@dataclass(frozen=True)
class JobOptions:
    """What a job asks for, kept in ``EnrichmentJob.options``."""

    mapping: dict[str, str]
    fields: tuple[str, ...] = ("email",)
    providers: tuple[str, ...] = ()
    min_confidence: int = DEFAULT_MIN_CONFIDENCE
    smtp: bool = False
    offline: bool = False
    #: "fixed" (as given) or "ranked" (by the ledger: found rate, cost per find, latency).
    order: str = "fixed"
    max_providers: int | None = None

    @classmethod
    def of(cls, job: EnrichmentJob) -> JobOptions:
        options = job.options or {}
        return cls(
            mapping=dict(options.get("mapping") or {}),
            fields=tuple(options.get("fields") or ("email",)),
            providers=tuple(options.get("providers") or ()),
            min_confidence=int(options.get("min_confidence", DEFAULT_MIN_CONFIDENCE)),
            smtp=bool(options.get("smtp")),
            offline=bool(options.get("offline")),
            order=options.get("order") or "fixed",
            max_providers=options.get("max_providers"),
        )


# --- creating and steering jobs --------------------------------------------------------------


#: Rows written per ``bulk_create`` while a job is created: memory stays flat for any file.
CREATE_BATCH = 1000


@transaction.atomic
def job_create(
    *,
    rows: Iterable[Mapping[str, str] | RowProblem],
    mapping: Mapping[str, str],
    name: str,
    headers: Sequence[str] = (),
    fields: Sequence[str] = ("email",),
    providers: Sequence[str] = (),
    min_confidence: int = DEFAULT_MIN_CONFIDENCE,
    smtp: bool = False,
    offline: bool = False,
    job_type: str = JobType.BULK,
    project: Any = None,
    created_by: Any = None,
    cost_cap: Decimal | None = None,
    cost_cap_per_lead: Decimal | None = None,
    order: str = "fixed",
    max_providers: int | None = None,
    via: str = "",
    webhook_url: str = "",
    problems: Iterable[RowProblem] = (),
) -> EnrichmentJob:
    """A pending job with one pending item per row; nothing is processed yet.

    ``rows`` may be any iterable (a streaming CSV reader): items are written a batch at a
    time, in its order. A :class:`~enrichment.csvio.RowProblem` among the rows, or in
    ``problems`` (placed after the rows), becomes an item that is already ``skipped`` with
    the line and reason as its error, counted as processed. ``headers`` are the input file's
    columns in their order, kept for the export. ``webhook_url`` (else
    ``ENRICH_WEBHOOK_URL``) is told when the job ends (:mod:`enrichment.webhooks`). Raises
    ``ValueError`` for an unknown field or provider, or a webhook that cannot be signed. The
    addresses the rows already have are kept with the job as pattern evidence for every chunk
    (rows teach the whole file).
    """
    unknown = [f for f in fields if f not in CANONICAL_FIELDS]
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    if order not in ("fixed", "ranked"):
        raise ValueError(f"unknown provider order {order!r} (fixed or ranked)")
    if max_providers is not None and max_providers < 1:
        raise ValueError("max_providers must be at least 1")
    if providers:
        load_steps(providers)  # unknown or disabled providers are refused here
    webhook_url = webhook_url or settings.ENRICH_WEBHOOK_URL
    if webhook_url:
        webhook_url = webhooks.webhook_url_check(webhook_url)
    mapping = dict(mapping)
    options = {
        "mapping": mapping,
        "headers": list(headers),
        "fields": list(fields),
        "providers": list(providers),
        "min_confidence": min_confidence,
        "smtp": smtp,
        "offline": offline,
        "order": order,
        "max_providers": max_providers,
        "via": via,
        "webhook_url": webhook_url,
        "known": {},
    }
    job = EnrichmentJob.objects.create(
        job_type=job_type,
        name=name[:200],
        project=project,
        created_by=created_by,
        cost_cap=cost_cap,
        cost_cap_per_lead=cost_cap_per_lead,
        options=options,
    )
    known: dict[str, list[list[str]]] = options["known"]
    batch: list[JobItem] = []
    unusable: list[RowProblem] = []
    total = 0
    now = timezone.now()

    def flush() -> None:
        given = [item.input for item in batch if item.status == ItemStatus.PENDING]
        for email in known_from_leads(read_leads(given, mapping)):
            known.setdefault(email.domain, []).append([email.email, email.first, email.last])
        JobItem.objects.bulk_create(batch)
        batch.clear()

    for record in itertools.chain(rows, problems):
        if isinstance(record, RowProblem):
            item = JobItem(
                job=job,
                index=total,
                status=ItemStatus.SKIPPED,
                error=str(record)[:2000],
                finished_at=now,
            )
            if len(unusable) < 3:
                unusable.append(record)
            job.processed_items += 1
        else:
            item = JobItem(job=job, index=total, input=dict(record))
        batch.append(item)
        total += 1
        if len(batch) >= CREATE_BATCH:
            flush()
    flush()
    job.total_items = total
    job.save(update_fields=["total_items", "processed_items", "options", "updated_at"])
    if job.processed_items:
        shown = "; ".join(map(str, unusable))
        more = ", ..." if job.processed_items > len(unusable) else ""
        events.job_event(
            job.pk,
            JobEventKind.ERROR,
            f"{job.processed_items} unusable row(s) skipped: {shown}{more}",
        )
    return job


def job_cancel(*, job: EnrichmentJob) -> EnrichmentJob:
    """Stop the job: items not yet done are skipped; one being processed finishes."""
    with transaction.atomic():
        changed = (
            EnrichmentJob.objects.filter(pk=job.pk)
            .exclude(status__in=[JobStatus.COMPLETED, JobStatus.CANCELLED])
            .update(status=JobStatus.CANCELLED, completed_at=timezone.now())
        )
        if changed:
            skipped = job.items.filter(status=ItemStatus.PENDING).update(
                status=ItemStatus.SKIPPED, error="cancelled", finished_at=timezone.now()
            )
            EnrichmentJob.objects.filter(pk=job.pk).update(
                processed_items=F("processed_items") + skipped
            )
    if changed:
        events.job_event(job.pk, JobEventKind.COMPLETED, "cancelled")
        webhooks.job_webhook_queue(job_id=job.pk)
    job.refresh_from_db()
    return job


def job_pause(*, job_id: int, reason: str, need: Decimal | None = None) -> bool:
    """Pause a running job (a budget or cap reached); True if this call paused it. ``need``
    is what the refused call needed: the job resumes once the budgets have that much room."""
    with transaction.atomic():
        job = EnrichmentJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in (JobStatus.PENDING, JobStatus.PROCESSING):
            return False
        job.status, job.error_message = JobStatus.PAUSED, reason[:2000]
        job.options = {**job.options, "resume_when_room": str(need or 0)}
        job.save(update_fields=["status", "error_message", "options", "updated_at"])
    events.job_event(job_id, JobEventKind.PAUSED, reason)
    return True


def job_resume(*, job: EnrichmentJob) -> bool:
    """Let a paused job go on (a budget was raised, a period rolled over); True if it did.
    The caller queues its work (:func:`enrichment.tasks.job_enqueue`)."""
    resumed = EnrichmentJob.objects.filter(pk=job.pk, status=JobStatus.PAUSED).update(
        status=JobStatus.PROCESSING, error_message=""
    )
    if resumed:
        events.job_event(job.pk, JobEventKind.STARTED, "resumed")
    return bool(resumed)


def job_retry_failed(*, job: EnrichmentJob) -> int:
    """Put the job's dead letters back in the queue; returns how many. The caller queues work."""
    with transaction.atomic():
        count = job.items.filter(status=ItemStatus.FAILED).update(
            status=ItemStatus.PENDING, attempts=0, retry_at=None, error="", finished_at=None
        )
        if count:
            EnrichmentJob.objects.filter(pk=job.pk).update(
                status=JobStatus.PROCESSING,
                completed_at=None,
                processed_items=F("processed_items") - count,
                failed_items=F("failed_items") - count,
            )
    return count


# --- working -------------------------------------------------------------------------------


@dataclass
class WorkOutcome:
    processed: int = 0
    #: Why the worker stopped early (paused, cancelled), or "" when the items ran out.
    stopped: str = ""
    #: Seconds until an item waiting for its retry is due, if any is waiting.
    retry_in: float | None = None
    #: Addresses whose SMTP probe was greylisted: ``{contact_email_id: seconds}``.
    greylisted: dict[int, int] = field(default_factory=dict)


def job_work(
    *,
    job_id: int,
    chunk_size: int = CHUNK_SIZE,
    resolver: MxResolver | None = None,
    on_item: Callable[[JobItem], None] | None = None,
) -> WorkOutcome:
    """Claim and process chunks of the job's items until none is left to claim now."""
    outcome = WorkOutcome()
    started = EnrichmentJob.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
        status=JobStatus.PROCESSING, started_at=Coalesce(F("started_at"), timezone.now())
    )
    if started:
        events.job_event(job_id, JobEventKind.STARTED, "started")
    # The options hold the file's known addresses, which grow with the file: read them once,
    # and only the job's state for each chunk.
    options = EnrichmentJob.objects.filter(pk=job_id).values_list("options", flat=True).first()
    while True:
        job = EnrichmentJob.objects.defer("options").filter(pk=job_id).first()
        if job is None or job.status != JobStatus.PROCESSING:
            outcome.stopped = job.status if job is not None else "deleted"
            break
        job.options = options
        items = items_claim(job_id=job_id, limit=chunk_size)
        if not items:
            break
        outcome.processed += _process_chunk(job, items, outcome, resolver=resolver, on_item=on_item)
    waiting = (
        JobItem.objects.filter(job_id=job_id, status=ItemStatus.PENDING, retry_at__isnull=False)
        .order_by("retry_at")
        .values_list("retry_at", flat=True)
        .first()
    )
    if waiting is not None:
        outcome.retry_in = max(0.0, (waiting - timezone.now()).total_seconds())
    job_finish_if_done(job_id=job_id)
    return outcome


def items_claim(*, job_id: int, limit: int) -> list[JobItem]:
    """Take up to ``limit`` items nobody holds: pending ones that are due, and processing ones
    whose worker's lease ran out. One conditional update; a competing worker gets others."""
    now = timezone.now()
    free = Q(status=ItemStatus.PENDING) & (Q(retry_at__isnull=True) | Q(retry_at__lte=now))
    free |= Q(status=ItemStatus.PROCESSING, lease_until__lt=now)
    candidates = list(
        JobItem.objects.filter(free, job_id=job_id)
        .order_by("index")
        .values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return []
    token = secrets.token_hex(16)
    JobItem.objects.filter(free, pk__in=candidates).update(
        status=ItemStatus.PROCESSING,
        claim_token=token,
        lease_until=now + timedelta(seconds=settings.ENRICH_ITEM_LEASE_SECONDS),
        started_at=Coalesce(F("started_at"), now),
    )
    return list(JobItem.objects.filter(claim_token=token).order_by("index"))


def job_finish_if_done(*, job_id: int) -> bool:
    """Complete a processing job with nothing left to do; True if this call completed it."""
    left = JobItem.objects.filter(
        job_id=job_id, status__in=[ItemStatus.PENDING, ItemStatus.PROCESSING]
    )
    if left.exists():
        return False
    counts = JobItem.objects.filter(job_id=job_id).aggregate(
        processed=Count("id", filter=Q(status__in=TERMINAL_ITEM_STATUSES)),
        succeeded=Count("id", filter=Q(status=ItemStatus.SUCCEEDED)),
        failed=Count("id", filter=Q(status=ItemStatus.FAILED)),
    )
    done = EnrichmentJob.objects.filter(pk=job_id, status=JobStatus.PROCESSING).update(
        status=JobStatus.COMPLETED,
        completed_at=timezone.now(),
        processed_items=counts["processed"],
        succeeded_items=counts["succeeded"],
        failed_items=counts["failed"],
    )
    if done:
        events.job_event(
            job_id,
            JobEventKind.COMPLETED,
            f"{counts['succeeded']} succeeded, {counts['failed']} failed, "
            f"{counts['processed'] - counts['succeeded'] - counts['failed']} skipped",
        )
        webhooks.job_webhook_queue(job_id=job_id)
    return bool(done)


def _process_chunk(
    job: EnrichmentJob,
    items: list[JobItem],
    outcome: WorkOutcome,
    *,
    resolver: MxResolver | None,
    on_item: Callable[[JobItem], None] | None,
) -> int:
    options = JobOptions.of(job)
    leads = read_leads([item.input for item in items], options.mapping)
    for lead, item in zip(leads, items, strict=True):
        lead.index = item.index
    mark_suppressed(leads)
    resolver = resolver or MxResolver(offline=options.offline)
    steps = load_steps(options.providers, options.min_confidence) if options.providers else []
    if options.order == "ranked" and steps:
        steps = rank_steps(steps, provider_rank_stats(options.providers))
    # The file's addresses (this chunk's among them) and what the providers know of the
    # domains (a domain search) teach the patterns.
    file_known = _file_known(job, {lead.domain for lead in leads if lead.domain})
    try:
        run_email_step(
            [lead for lead in leads if not lead.result],
            learn=lambda domains, _chunk_known: domain_patterns_learn(
                domains=domains,
                extra=[
                    *file_known,
                    *known_emails_from_providers(
                        domains=domains, providers=[step.provider for step in steps]
                    ),
                ],
            ),
            resolver=resolver,
            smtp=options.smtp and not options.offline,
        )
    except Exception as exc:  # noqa: BLE001 - a bad chunk fails its items, not the worker
        logger.exception("email step failed", extra={"job": job.pk})
        for item in items:
            _item_failed(job, item, exc)
        return len(items)
    processed = 0
    for position, (lead, item) in enumerate(zip(leads, items, strict=True)):
        try:
            if steps and lead.parsed is not None and not lead.result.get("suppressed"):
                answers = fill_lead(
                    lead,
                    lead_inputs(lead, options.mapping),
                    options.fields,
                    steps,
                    job_item=item,
                    cost_cap=job.cost_cap_per_lead,
                    max_providers=options.max_providers,
                )
                apply_answers(lead, answers)
            greylisted = _item_store(job, item, lead, options)
            if greylisted:
                outcome.greylisted.update(greylisted)
        except BudgetExhausted as exc:
            # Nothing was paid for this item's refused call: it waits, unattempted.
            _release(items[position:])
            job_pause(job_id=job.pk, reason=f"{exc.message}; raise it to resume", need=exc.amount)
            return processed
        except Exception as exc:  # noqa: BLE001 - one bad item never stops the others
            logger.exception("job item failed", extra={"job": job.pk, "item": item.index})
            _item_failed(job, item, exc)
        processed += 1
        if on_item is not None:
            on_item(item)
        events.job_progress(job.pk)
    _rate_limited_note(job, steps)
    return processed


def _file_known(job: EnrichmentJob, domains: Iterable[str]) -> list[KnownEmail]:
    known = (job.options or {}).get("known") or {}
    return [
        KnownEmail(email, first, last, source="input")
        for domain in domains
        for email, first, last in known.get(domain, [])
    ]


def _release(items: Iterable[JobItem]) -> None:
    JobItem.objects.filter(pk__in=[item.pk for item in items], status=ItemStatus.PROCESSING).update(
        status=ItemStatus.PENDING, claim_token="", lease_until=None
    )


def _finish(job: EnrichmentJob, item: JobItem, status: str, **changes: Any) -> bool:
    """Move ``item`` (still ours) to a terminal status and count it; False if it was not ours."""
    now = timezone.now()
    moved = JobItem.objects.filter(
        pk=item.pk, claim_token=item.claim_token, status=ItemStatus.PROCESSING
    ).update(status=status, finished_at=now, lease_until=None, **changes)
    if moved:
        EnrichmentJob.objects.filter(pk=job.pk).update(
            processed_items=F("processed_items") + 1,
            succeeded_items=F("succeeded_items") + int(status == ItemStatus.SUCCEEDED),
            failed_items=F("failed_items") + int(status == ItemStatus.FAILED),
        )
    return bool(moved)


def _item_failed(job: EnrichmentJob, item: JobItem, exc: BaseException) -> None:
    attempts = item.attempts + 1
    reason = f"{type(exc).__name__}: {exc}"[:2000]
    if attempts >= MAX_ATTEMPTS:
        _finish(job, item, ItemStatus.FAILED, attempts=attempts, error=reason)
        events.job_event(job.pk, JobEventKind.ERROR, f"row {item.index + 1}: {reason}")
        return
    JobItem.objects.filter(pk=item.pk, claim_token=item.claim_token).update(
        status=ItemStatus.PENDING,
        attempts=attempts,
        error=reason,
        lease_until=None,
        claim_token="",
        retry_at=timezone.now() + timedelta(seconds=RETRY_DELAYS[attempts - 1]),
    )


@transaction.atomic
def _item_store(
    job: EnrichmentJob, item: JobItem, lead: Lead, options: JobOptions
) -> dict[int, int]:
    """The item's result on the item and on its contact (matched, not duplicated); returns
    the greylisted address to probe again later, if any."""
    now = timezone.now()
    result = lead.result
    output = {k: v for k, v in result.items() if k not in {"found", "breakdown"}}
    if lead.parsed is not None:
        first, last = display_names(lead.row, options.mapping)
        output.setdefault("first_name", first or lead.parsed.first)
        output.setdefault("last_name", last or lead.parsed.last)
    if lead.domain:
        output.setdefault("domain", lead.domain)
    contact, greylisted = None, {}
    if lead.parsed is not None and not result.get("suppressed"):
        contact, greylisted = results.contact_store_result(
            job=job, lead=lead, mapping=options.mapping, now=now
        )
    email_ok = result.get("email_status") in OK_STATUSES and result.get("email")
    filled = any(k in result for k in CANONICAL_FIELDS if k != "email")
    if email_ok or filled:
        status, error = ItemStatus.SUCCEEDED, ""
    else:
        status = ItemStatus.SKIPPED
        error = result.get("email_reason") or "; ".join(lead.problems) or "nothing found"
    item.output = output
    _finish(
        job,
        item,
        status,
        output=output,
        error=error[:2000],
        attempts=item.attempts + 1,
        contact=contact,
        cost=item.provider_calls.aggregate(total=Sum("cost"))["total"] or Decimal(0),
    )
    return greylisted


def _rate_limited_note(job: EnrichmentJob, steps: list[Step]) -> None:
    for step in steps:
        if step.disabled_reason:
            events.job_event(
                job.pk,
                JobEventKind.RATE_LIMITED
                if "rate" in step.disabled_reason or "quota" in step.disabled_reason
                else JobEventKind.ERROR,
                f"{step.provider.slug} stopped for this chunk: {step.disabled_reason}",
            )


def jobs_needing_work() -> list[int]:
    """Jobs a worker should look at: processing jobs nobody is working on (their workers
    stopped), and paused jobs whose budgets and cap have room again (those are resumed)."""
    from budgets.services import budgets_have_room

    now = timezone.now()
    claimable = Q(items__status=ItemStatus.PENDING) & (
        Q(items__retry_at__isnull=True) | Q(items__retry_at__lte=now)
    )
    claimable |= Q(items__status=ItemStatus.PROCESSING, items__lease_until__lt=now)
    busy = JobItem.objects.filter(status=ItemStatus.PROCESSING, lease_until__gte=now)
    stalled = (
        EnrichmentJob.objects.filter(status=JobStatus.PROCESSING)
        .filter(claimable)
        .exclude(pk__in=busy.values("job_id"))
        .values_list("pk", flat=True)
        .distinct()
    )
    ids = list(stalled)
    for job in EnrichmentJob.objects.filter(status=JobStatus.PAUSED):
        need = Decimal((job.options or {}).get("resume_when_room") or 0)
        capped = job.cost_cap is not None and job.cost + need > job.cost_cap
        room = not capped and budgets_have_room(
            project_id=job.project_id, user_id=job.created_by_id, amount=need
        )
        if room and job_resume(job=job):
            ids.append(job.pk)
    return ids
