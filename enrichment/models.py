"""Enrichment jobs, their items, the waterfall configuration and learned domain patterns."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q


class JobType(models.TextChoices):
    DISCOVERY = "discovery", "Contact discovery"
    SINGLE = "single", "Single lead"
    BULK = "bulk", "Bulk (CSV)"
    COLUMN = "column", "Column (one field for many rows)"
    SCHEDULED = "scheduled", "Scheduled re-enrichment"
    TRIGGER = "trigger", "Triggered (webhook / API)"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    RETRYING = "retrying", "Retrying"
    #: Stopped by a budget or a cap; ``error_message`` says which. Resumes when there is room.
    PAUSED = "paused", "Paused (budget)"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_JOB_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class EnrichmentJob(models.Model):
    job_type = models.CharField(max_length=16, choices=JobType)
    status = models.CharField(max_length=16, choices=JobStatus, default=JobStatus.PENDING)
    name = models.CharField(max_length=200, blank=True)
    project = models.ForeignKey(
        "budgets.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="enrichment_jobs",
    )
    # Discovery input (the seed's brand columns).
    brand = models.ForeignKey(
        "contacts.CrmBrand", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    brand_name = models.CharField(max_length=200, blank=True)
    brand_website = models.URLField(max_length=500, blank=True)
    linkedin_company_url = models.URLField(max_length=500, blank=True)
    # Which fields and providers, column mapping, input file name ...
    options = models.JSONField(default=dict, blank=True)
    total_items = models.PositiveIntegerField(default=0)
    processed_items = models.PositiveIntegerField(default=0)
    succeeded_items = models.PositiveIntegerField(default=0)
    failed_items = models.PositiveIntegerField(default=0)
    contacts_discovered = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    cost_cap = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The job stops paying for calls once its cost reaches this.",
    )
    cost_cap_per_lead = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="No lead is asked about once its calls have cost this.",
    )
    retry_count = models.PositiveSmallIntegerField(default=0)
    max_retries = models.PositiveSmallIntegerField(default=3)
    error_message = models.TextField(blank=True)
    region_code = models.CharField(max_length=8, blank=True)
    compliance_mode = models.BooleanField(default=True)
    volume_limited = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="job_status_time"),
            models.Index(fields=["brand"], name="job_brand"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(succeeded_items__lte=F("processed_items"))
                & Q(failed_items__lte=F("processed_items")),
                name="job_outcomes_within_processed",
            ),
            models.CheckConstraint(
                condition=Q(processed_items__lte=F("total_items")),
                name="job_processed_within_total",
            ),
            models.CheckConstraint(condition=Q(cost__gte=0), name="job_cost_not_negative"),
            models.CheckConstraint(
                condition=Q(retry_count__lte=F("max_retries")), name="job_retries_within_max"
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_job_type_display()} #{self.pk}"

    @property
    def progress_percent(self) -> int:
        if not self.total_items:
            return 100 if self.status == JobStatus.COMPLETED else 0
        return int(100 * self.processed_items / self.total_items)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    #: Failed every attempt: the job's dead letters, re-runnable in bulk.
    FAILED = "failed", "Failed"
    #: Done with nothing to show (no name, no domain, suppressed, cancelled): ``error`` says why.
    SKIPPED = "skipped", "Skipped"


TERMINAL_ITEM_STATUSES = (ItemStatus.SUCCEEDED, ItemStatus.FAILED, ItemStatus.SKIPPED)


class JobItem(models.Model):
    """One input row (or one contact) of a job, processed idempotently."""

    job = models.ForeignKey(EnrichmentJob, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField(help_text="Row number in the input, from 0.")
    input = models.JSONField(default=dict)
    output = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ItemStatus, default=ItemStatus.PENDING)
    error = models.TextField(blank=True)
    cost = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    attempts = models.PositiveSmallIntegerField(default=0)
    #: The worker's claim: another worker may take the item over once ``lease_until`` passes.
    claim_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    #: A failed attempt is tried again from then (backoff).
    retry_at = models.DateTimeField(null=True, blank=True)
    contact = models.ForeignKey(
        "contacts.EnrichedContact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="job_items",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        indexes = [
            models.Index(fields=["job", "status"], name="jobitem_job_status"),
            models.Index(fields=["claim_token"], name="jobitem_claim"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="jobitem_unique_row"),
            models.CheckConstraint(condition=Q(cost__gte=0), name="jobitem_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} row {self.index}"


class JobEventKind(models.TextChoices):
    STARTED = "enrichment_started", "Started"
    PROGRESS = "enrichment_progress", "Progress"
    COMPLETED = "enrichment_completed", "Completed"
    COST_THRESHOLD = "cost_threshold_reached", "Cost threshold reached"
    RATE_LIMITED = "rate_limited", "Rate limited"
    PAUSED = "paused", "Paused"
    ERROR = "error", "Error"


class JobEvent(models.Model):
    """The job's log, shown on its page: what happened, in order."""

    job = models.ForeignKey(EnrichmentJob, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=JobEventKind)
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["job", "created_at"], name="jobevent_job_time")]

    def __str__(self) -> str:
        return f"{self.job_id} {self.kind}: {self.message}"


class WaterfallStep(models.Model):
    """One provider in the ordered waterfall for one canonical field.

    Rows with no project are the organisation's default; a project may define its own.
    """

    project = models.ForeignKey(
        "budgets.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="waterfall_steps",
    )
    field = models.CharField(max_length=40)
    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.CASCADE, related_name="waterfall_steps"
    )
    position = models.PositiveSmallIntegerField(default=1)
    min_confidence = models.PositiveSmallIntegerField(
        default=80,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Stop the waterfall for this field once a value is at least this confident.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["project", "field", "position"]
        constraints = [
            # The organisation default (no project) and each project have their own order;
            # spelled twice because NULL projects are distinct in a plain unique constraint.
            models.UniqueConstraint(
                fields=["project", "field", "position"],
                name="waterfall_position_unique",
            ),
            models.UniqueConstraint(
                fields=["field", "position"],
                condition=Q(project__isnull=True),
                name="waterfall_default_position_unique",
            ),
            models.UniqueConstraint(
                fields=["project", "field", "provider"],
                name="waterfall_provider_once",
            ),
            models.UniqueConstraint(
                fields=["field", "provider"],
                condition=Q(project__isnull=True),
                name="waterfall_default_provider_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field} #{self.position}: {self.provider}"


class DomainPattern(models.Model):
    """The email pattern(s) learned for one domain from known addresses and bounces."""

    domain = models.CharField(max_length=253, unique=True)
    top_pattern = models.CharField(max_length=32, blank=True)
    # {pattern_name: probability}, from enrichment.emails.patterns.
    distribution = models.JSONField(default=dict)
    # {pattern_name: weighted evidence count}; bounces subtract.
    evidence = models.JSONField(default=dict)
    support = models.PositiveIntegerField(default=0, help_text="Known emails the top explains.")
    share = models.FloatField(default=0.0, help_text="Share of known emails the top explains.")
    examples = models.PositiveIntegerField(default=0)
    catch_all = models.BooleanField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return f"{self.domain}: {self.top_pattern or '?'}"
