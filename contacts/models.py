"""Contacts found by enrichment, their emails, the audit trail, CRM links and erasure."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from contacts.matching import LINKEDIN_KEY_MAX_LENGTH, NAME_KEY_MAX_LENGTH, match_keys

CONFIDENCE_VALIDATORS = [MinValueValidator(0), MaxValueValidator(100)]


class ContactSource(models.TextChoices):
    LINKEDIN = "linkedin", "LinkedIn"
    WEBSITE = "website", "Company website"
    PUBLIC_INDEX = "public_index", "Public index / search"
    PROVIDER = "provider", "Data provider"
    IMPORT = "import", "CSV import"
    MANUAL = "manual", "Manual"
    SANDBOX = "sandbox", "Sandbox (synthetic)"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Awaiting review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class LawfulBasis(models.TextChoices):
    """GDPR Art. 6(1) bases that can apply to B2B prospecting data."""

    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest"
    CONSENT = "consent", "Consent"
    CONTRACT = "contract", "Contract"
    NOT_APPLICABLE = "not_applicable", "Not applicable (outside GDPR)"


class CrmBrand(models.Model):
    """A company in the CRM that contacts are discovered for and linked to."""

    name = models.CharField(max_length=200)
    website = models.URLField(max_length=500, blank=True)
    domain = models.CharField(max_length=253, blank=True, db_index=True)
    linkedin_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RelationshipStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    ENGAGED = "engaged", "Engaged"
    CUSTOMER = "customer", "Customer"
    LOST = "lost", "Lost"


class CrmBrandContact(models.Model):
    brand = models.ForeignKey(CrmBrand, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    title = models.CharField(max_length=200, blank=True)
    relationship_status = models.CharField(
        max_length=16, choices=RelationshipStatus, default=RelationshipStatus.NEW
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["brand", "last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "email"],
                condition=~Q(email=""),
                name="crm_contact_email_per_brand",
            )
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.brand})".strip()


class ContactQuerySet(models.QuerySet):
    """Bulk writes keep the match keys current too (they bypass ``save``)."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for obj in objs:
            obj.set_match_keys()
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs = list(objs)
        if EnrichedContact.MATCH_KEY_SOURCES.intersection(fields):
            for obj in objs:
                obj.set_match_keys()
            fields = [*fields, *(f for f in ("name_key", "linkedin_key") if f not in fields)]
        return super().bulk_update(objs, fields, *args, **kwargs)


class EnrichedContact(models.Model):
    """A person found by discovery or enrichment, waiting for or past review.

    ``field_sources`` keeps, per canonical field, where the value came from, how confident
    that source was and when it was found: ``{"title": {"source": "apollo", "confidence": 90,
    "found_at": "..."}}``.

    ``name_key`` and ``linkedin_key`` are the person's match keys (``contacts.matching``), kept
    up to date by :meth:`save` and by the manager's ``bulk_create`` / ``bulk_update`` (a
    queryset ``update()`` of those fields does not refresh them). ``quality_score`` and
    ``quality_checks`` are written by ``contacts.services.contact_quality_refresh``.
    """

    # Fields the match keys are computed from: saving any of them refreshes the keys.
    MATCH_KEY_SOURCES = frozenset({"first_name", "last_name", "domain", "linkedin_url"})

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    original_name = models.CharField(max_length=300, blank=True, help_text="As found, unfolded.")
    title = models.CharField(max_length=200, blank=True)
    seniority = models.CharField(max_length=50, blank=True)
    department = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=200, blank=True)
    domain = models.CharField(max_length=253, blank=True)
    linkedin_url = models.URLField(max_length=500, blank=True)
    linkedin_id = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    mobile_phone = models.CharField(max_length=40, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    confidence_score = models.PositiveSmallIntegerField(
        default=50, validators=CONFIDENCE_VALIDATORS
    )
    source = models.CharField(max_length=32, choices=ContactSource)
    discovery_method = models.CharField(max_length=100, blank=True)
    field_sources = models.JSONField(default=dict, blank=True)
    name_key = models.CharField(
        max_length=NAME_KEY_MAX_LENGTH,
        blank=True,
        editable=False,
        help_text="Folded first and last name at the domain, for matching.",
    )
    linkedin_key = models.CharField(
        max_length=LINKEDIN_KEY_MAX_LENGTH,
        blank=True,
        editable=False,
        help_text="linkedin.com/in/<handle>, for matching.",
    )
    quality_score = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False, validators=CONFIDENCE_VALIDATORS
    )
    # {"score", "dimensions": {name: score}, "rules": [{"name", "outcome", "severity", "reason"}],
    #  "computed_at"}: see enrichment.quality.QualityReport.as_dict.
    quality_checks = models.JSONField(default=dict, blank=True, editable=False)
    review_status = models.CharField(
        max_length=16, choices=ReviewStatus, default=ReviewStatus.PENDING
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    linked_brand = models.ForeignKey(
        CrmBrand, null=True, blank=True, on_delete=models.SET_NULL, related_name="enriched_contacts"
    )
    linked_contact = models.ForeignKey(
        CrmBrandContact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="enriched_contacts",
    )
    project = models.ForeignKey(
        "budgets.Project",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )
    job = models.ForeignKey(
        "enrichment.EnrichmentJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )
    compliance_check_passed = models.BooleanField(default=False)
    lawful_basis = models.CharField(max_length=32, choices=LawfulBasis, blank=True)
    region = models.CharField(max_length=8, blank=True)
    discovered_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Set by every job that stores a result for the contact; scheduled re-enrichment picks
    # the contacts whose values are oldest (enrichment.refresh).
    enriched_at = models.DateTimeField(null=True, blank=True, editable=False)
    added_to_crm_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-discovered_at"]
        indexes = [
            models.Index(fields=["linked_brand"], name="contact_brand"),
            models.Index(fields=["linkedin_id"], name="contact_linkedin"),
            models.Index(fields=["company"], name="contact_company"),
            models.Index(fields=["confidence_score"], name="contact_confidence"),
            models.Index(fields=["review_status", "-discovered_at"], name="contact_review_queue"),
            models.Index(fields=["domain"], name="contact_domain"),
            models.Index(fields=["name_key"], name="contact_name_key"),
            models.Index(fields=["linkedin_key"], name="contact_linkedin_key"),
            models.Index(fields=["enriched_at"], name="contact_enriched_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence_score__gte=0, confidence_score__lte=100),
                name="contact_confidence_range",
            ),
            models.CheckConstraint(
                condition=~Q(review_status=ReviewStatus.APPROVED) | Q(compliance_check_passed=True),
                name="contact_approved_needs_compliance",
            ),
            models.CheckConstraint(
                condition=Q(quality_score__isnull=True)
                | Q(quality_score__gte=0, quality_score__lte=100),
                name="contact_quality_range",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or f"contact {self.pk}"

    def save(self, *args, **kwargs):
        self.set_match_keys()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and self.MATCH_KEY_SOURCES.intersection(update_fields):
            # A partial save of a name, domain or URL must not leave the old key behind.
            kwargs["update_fields"] = {*update_fields, "name_key", "linkedin_key"}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def set_match_keys(self) -> None:
        """Recompute ``name_key`` and ``linkedin_key`` from the stored values."""
        keys = match_keys(
            linkedin_url=self.linkedin_url,
            first_name=self.first_name,
            last_name=self.last_name,
            domain=self.domain,
        )
        self.name_key, self.linkedin_key = keys.name, keys.linkedin

    @property
    def location(self) -> str:
        return ", ".join(p for p in (self.city, self.state, self.country) if p)


class VerificationStatus(models.TextChoices):
    VERIFIED = "verified", "Verified (score ≥ 80)"
    UNKNOWN = "unknown", "Unknown (50-79)"
    RISKY = "risky", "Risky (< 50)"
    INVALID = "invalid", "Invalid"


class VerificationMethod(models.TextChoices):
    PATTERN = "pattern", "Pattern"
    MX_CHECK = "mx_check", "MX check"
    SMTP_PING = "smtp_ping", "SMTP probe"
    API = "api", "Provider API"
    MANUAL = "manual", "Manual"
    BOUNCE = "bounce", "Bounce"


class GenerationMethod(models.TextChoices):
    PATTERN_DETECTION = "pattern_detection", "Pattern detection"
    API_ENRICHMENT = "api_enrichment", "Provider API"
    IMPORT = "import", "Imported"
    MANUAL = "manual", "Manual"


class ContactEmail(models.Model):
    contact = models.ForeignKey(EnrichedContact, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField(max_length=254)
    domain = models.CharField(max_length=253, db_index=True)
    is_primary = models.BooleanField(default=False)
    verification_status = models.CharField(
        max_length=16, choices=VerificationStatus, default=VerificationStatus.UNKNOWN
    )
    verification_method = models.CharField(max_length=16, choices=VerificationMethod, blank=True)
    verification_score = models.PositiveSmallIntegerField(
        default=50, validators=CONFIDENCE_VALIDATORS
    )
    # Named factors that make up the score ("why 72?"): [{"name", "points", "detail"}].
    score_breakdown = models.JSONField(default=list, blank=True)
    generation_method = models.CharField(max_length=24, choices=GenerationMethod, blank=True)
    pattern = models.CharField(max_length=32, blank=True)
    name_permutations = models.JSONField(default=list, blank=True)
    mx_check_passed = models.BooleanField(null=True)
    mx_host = models.CharField(max_length=253, blank=True)
    smtp_check_passed = models.BooleanField(null=True)
    smtp_result = models.CharField(max_length=200, blank=True)
    catch_all = models.BooleanField(null=True)
    api_source = models.CharField(max_length=64, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_primary", "-verification_score"]
        indexes = [
            models.Index(fields=["verification_status"], name="contactemail_status"),
            models.Index(fields=["email"], name="contactemail_email"),
            # contact_find_match looks addresses up case-insensitively.
            models.Index(Lower("email"), name="contactemail_email_lower"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["contact", "email"], name="unique_email_per_contact"),
            models.UniqueConstraint(
                fields=["contact"],
                condition=Q(is_primary=True),
                name="one_primary_email_per_contact",
            ),
            models.CheckConstraint(
                condition=Q(verification_score__gte=0, verification_score__lte=100),
                name="contactemail_score_range",
            ),
        ]

    def __str__(self) -> str:
        return self.email


class ActivityQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ARG002
        raise TypeError("the activity log is append-only")

    def delete(self):
        raise TypeError("the activity log is append-only")


class ContactActivity(models.Model):
    """Append-only audit trail: who did what to which contact, and when."""

    contact = models.ForeignKey(
        EnrichedContact, null=True, on_delete=models.SET_NULL, related_name="activities"
    )
    # Kept when the contact is erased so the trail still says something happened.
    contact_ref = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "contact activities"

    def __str__(self) -> str:
        return f"{self.action} on {self.contact_ref or self.contact_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("the activity log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("the activity log is append-only")


class OutreachStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"


class Outreach(models.Model):
    brand_contact = models.ForeignKey(
        CrmBrandContact, on_delete=models.CASCADE, related_name="outreach"
    )
    sequence = models.CharField(max_length=100, default="default")
    step = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=16, choices=OutreachStatus, default=OutreachStatus.SCHEDULED
    )
    next_step_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "outreach"
        constraints = [
            models.UniqueConstraint(
                fields=["brand_contact", "sequence"], name="one_outreach_per_sequence"
            ),
            models.CheckConstraint(condition=Q(step__gte=1), name="outreach_step_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.brand_contact} {self.sequence} step {self.step}"


def suppression_hash(value: str) -> str:
    """Stable digest of an identifier, so erased people are recognised but not stored."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


class SuppressionKind(models.TextChoices):
    EMAIL = "email", "Email address"
    LINKEDIN = "linkedin", "LinkedIn URL"
    DOMAIN = "domain", "Whole domain"


class Suppression(models.Model):
    """People (or domains) erased or opted out: never discovered or enriched again."""

    kind = models.CharField(max_length=16, choices=SuppressionKind, default=SuppressionKind.EMAIL)
    value_hash = models.CharField(max_length=64)
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "value_hash"], name="suppression_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value_hash[:12]}…"
