"""Provider configuration, the ledger of every call made to a provider, pending phone reveals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config import crypto


class ProviderKind(models.TextChoices):
    BUILTIN = "builtin", "Built-in adapter"
    GENERIC = "generic", "Generic HTTP (configured without code)"


class Operation(models.TextChoices):
    FIND_EMAIL = "find_email", "Find email"
    VERIFY_EMAIL = "verify_email", "Verify email"
    ENRICH_PERSON = "enrich_person", "Enrich person"
    ENRICH_COMPANY = "enrich_company", "Enrich company"
    SEARCH_PEOPLE = "search_people", "Search people"
    TECHNOGRAPHICS = "technographics", "Technographics"
    FIND_PHONE = "find_phone", "Find phone"


class Provider(models.Model):
    """One configured data provider: which adapter, where, how fast and at what price.

    Credentials are stored encrypted (see config/crypto.py) and never rendered back: read
    them with :meth:`get_credentials` inside the provider client only.
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=ProviderKind, default=ProviderKind.BUILTIN)
    # Registry key of the adapter class ("hunter", "apollo", "sandbox", "generic", ...).
    adapter = models.CharField(max_length=64)
    base_url = models.URLField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="Lower runs first in a waterfall when no order is given."
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute; empty means no limit."
    )
    concurrency = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1)], help_text="Calls in flight at once."
    )
    daily_quota = models.PositiveIntegerField(
        null=True, blank=True, help_text="Paid calls per UTC day; empty means no quota."
    )
    timeout_seconds = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("15"),
        validators=[MinValueValidator(Decimal("0.1"))],
    )
    price_per_call = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Default cost of one successful operation, in the budget currency.",
    )
    # Per-operation overrides: {"find_email": "0.0400", "verify_email": "0.0080"}.
    operation_prices = models.JSONField(default=dict, blank=True)
    cache_ttl_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Response cache lifetime; empty uses the default."
    )
    # Adapter settings; for generic providers the whole request/response mapping.
    config = models.JSONField(default=dict, blank=True)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(timeout_seconds__gt=0), name="provider_timeout_positive"
            ),
            models.CheckConstraint(
                condition=Q(price_per_call__gte=0), name="provider_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.slug

    # Credentials -----------------------------------------------------------------------------
    def set_credentials(self, values: dict[str, str]) -> None:
        cleaned = {k: v for k, v in values.items() if v not in (None, "")}
        self.credentials_encrypted = crypto.encrypt_json(cleaned) if cleaned else ""

    def get_credentials(self) -> dict[str, str]:
        return crypto.decrypt_json(self.credentials_encrypted)

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_encrypted)

    def credential_names(self) -> list[str]:
        """Names of the stored credentials (never their values), for display."""
        return sorted(self.get_credentials()) if self.credentials_encrypted else []

    def price_for(self, operation: str) -> Decimal:
        raw = self.operation_prices.get(operation)
        return Decimal(str(raw)) if raw is not None else self.price_per_call

    def config_for_export(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "kind": self.kind,
            "adapter": self.adapter,
            "base_url": self.base_url,
            "enabled": self.enabled,
            "priority": self.priority,
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "concurrency": self.concurrency,
            "daily_quota": self.daily_quota,
            "timeout_seconds": str(self.timeout_seconds),
            "price_per_call": str(self.price_per_call),
            "operation_prices": self.operation_prices,
            "cache_ttl_days": self.cache_ttl_days,
            "config": self.config,
            "credential_names": self.credential_names(),
        }


class CallStatus(models.TextChoices):
    #: Written before the request goes out; a row still pending after the call's lease means
    #: the worker stopped mid-call and the provider may have answered (and billed).
    PENDING = "pending", "Sent, outcome unknown"
    SUCCESS = "success", "Success"
    NO_MATCH = "no_match", "No match"
    ERROR = "error", "Error"


class ProviderCall(models.Model):
    """Ledger: one row for every attempt at a provider call, cache hits included.

    Health (success rate, latency percentiles, spend) and budgets are derived from these rows;
    cost is the provider's charge for this attempt (zero for cache hits and unbilled failures).
    An attempt's row is inserted as ``pending`` before the request is sent and completed after
    (:mod:`providers.ledger`).
    """

    # Indexed by the composite indexes below, which start with it.
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="calls", db_index=False
    )
    operation = models.CharField(max_length=32, choices=Operation)
    input_fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=CallStatus)
    error_kind = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    credits_left = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    cache_hit = models.BooleanField(default=False)
    attempt = models.PositiveSmallIntegerField(default=1)
    job_item = models.ForeignKey(
        "enrichment.JobItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provider_calls",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["provider", "-created_at"], name="providercall_provider_time"),
            models.Index(
                fields=["provider", "operation", "input_fingerprint"],
                name="providercall_lookup",
            ),
            # The admin's exact fingerprint search (ProviderCallAdmin.get_search_results); a
            # plain b-tree, since a sha256 is never searched by prefix.
            models.Index(fields=["input_fingerprint"], name="providercall_fingerprint"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(cost__gte=0), name="providercall_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.operation} {self.status}"


class PhoneRevealStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RECEIVED = "received", "Received"
    EXPIRED = "expired", "Expired"


class PhoneReveal(models.Model):
    """A phone reveal a provider delivers later to our webhook (Apollo's ``reveal_phone_number``).

    The webhook URL carries a random token; only its SHA-256 is stored, so a copy of this table
    is not enough to post numbers for someone else. ``phone_fields`` holds the canonical
    ``mobile_phone`` / ``phone`` as ``{"value", "confidence", "type", "status"}``; ``cost`` is
    what the provider bills on delivery, on top of the ledger row of the request.
    See :mod:`providers.reveals`.
    """

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="phone_reveals")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    person_id = models.CharField(max_length=64, blank=True, help_text="The provider's person id.")
    request_id = models.CharField(
        max_length=64, blank=True, help_text="The provider's request id, to poll for a result."
    )
    status = models.CharField(
        max_length=16, choices=PhoneRevealStatus, default=PhoneRevealStatus.PENDING
    )
    requested_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(null=True, blank=True)
    phone_fields = models.JSONField(default=dict, blank=True)
    raw_payload = models.JSONField(null=True, blank=True)
    cost = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            # The expiry sweep: pending reveals older than a cut-off.
            models.Index(fields=["status", "requested_at"], name="phonereveal_status_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(cost__gte=0), name="phonereveal_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.person_id or '?'} {self.status}"


class ProviderState(models.Model):
    """The limits every process of a deployment shares for one provider, in one row.

    Updated only inside a transaction holding the row lock (:mod:`providers.limits`): the
    token bucket as a GCRA "theoretical arrival time", the circuit breaker and the daily quota.
    """

    provider = models.OneToOneField(
        Provider, primary_key=True, on_delete=models.CASCADE, related_name="state"
    )
    #: When the next request may go out at an even pace (GCRA); a burst may run ahead of it.
    next_token_at = models.DateTimeField(null=True, blank=True)
    #: Consecutive failures that count against the circuit (reset by a success).
    failures = models.PositiveIntegerField(default=0)
    #: The circuit is open (calls refused) until then; past it, one trial call is let through.
    opened_until = models.DateTimeField(null=True, blank=True)
    #: A half-open trial call is in flight until then.
    trial_until = models.DateTimeField(null=True, blank=True)
    quota_day = models.DateField(null=True, blank=True)
    quota_used = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"limits of {self.provider_id}"


class ProviderLease(models.Model):
    """One call in flight, holding one of the provider's concurrency slots until it ends or
    ``expires_at`` passes (a worker killed mid-call frees its slot that way)."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="leases")
    token = models.CharField(max_length=32, unique=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["provider", "expires_at"], name="providerlease_expiry")]

    def __str__(self) -> str:
        return f"{self.provider_id} slot until {self.expires_at:%H:%M:%S}"


class AnswerStatus(models.TextChoices):
    #: A caller is asking the provider now; others wait for its answer (single flight).
    PENDING = "pending", "Being asked"
    ANSWERED = "answered", "Answered"


class ProviderAnswer(models.Model):
    """A provider's answer we paid for, kept so the same question is never paid for twice.

    Keyed by provider, operation and the fingerprint of the normalised input; ``subjects``
    lists who the answer is about (``|email:...|linkedin:...|person:...|``) so an erasure can
    find and delete it. See :mod:`providers.answers`.
    """

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="answers")
    operation = models.CharField(max_length=32, choices=Operation)
    input_fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=AnswerStatus, default=AnswerStatus.PENDING)
    #: The serialised :class:`~providers.adapters.base.ProviderResult`; empty while pending.
    result = models.JSONField(null=True, blank=True)
    cost = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    subjects = models.TextField(blank=True, default="")
    #: The caller asking now, and until when the others wait for it.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "operation", "input_fingerprint"], name="provideranswer_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.operation} {self.status}"
