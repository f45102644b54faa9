"""Projects, budgets and spend: money is reserved before a paid call and settled after."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


def default_alert_thresholds() -> list[int]:
    return [50, 80, 95]


class Project(models.Model):
    """Groups jobs, contacts and budgets (a campaign, a client, a territory)."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BudgetScope(models.TextChoices):
    ORGANISATION = "organisation", "Organisation"
    PROJECT = "project", "Project"
    USER = "user", "User"


class BudgetPeriod(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    TOTAL = "total", "Total (never resets)"


class Budget(models.Model):
    scope = models.CharField(max_length=16, choices=BudgetScope)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budgets",
    )
    period = models.CharField(max_length=16, choices=BudgetPeriod, default=BudgetPeriod.MONTHLY)
    limit_amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="USD")
    # Percentages of the limit at which an alert is raised once per period.
    alert_thresholds = models.JSONField(default=default_alert_thresholds, blank=True)
    auto_stop = models.BooleanField(
        default=True, help_text="Refuse paid calls once the limit is reached."
    )
    roll_over = models.BooleanField(
        default=False, help_text="Carry unspent amount into the next period."
    )
    carried_over = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    period_start = models.DateTimeField()
    #: Settled spend in the current period and spend reserved by calls in flight; changed
    #: only by the conditional updates in :mod:`budgets.services`.
    spent = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    reserved = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "period"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope=BudgetScope.ORGANISATION, project__isnull=True, user__isnull=True)
                    | Q(scope=BudgetScope.PROJECT, project__isnull=False, user__isnull=True)
                    | Q(scope=BudgetScope.USER, project__isnull=True, user__isnull=False)
                ),
                name="budget_scope_matches_owner",
            ),
            models.CheckConstraint(
                condition=Q(limit_amount__gte=0), name="budget_limit_not_negative"
            ),
            # One budget per owner and period; spelled per scope because NULLs are distinct.
            models.UniqueConstraint(
                fields=["period"],
                condition=Q(scope=BudgetScope.ORGANISATION),
                name="budget_one_org_per_period",
            ),
            models.UniqueConstraint(
                fields=["project", "period"],
                condition=Q(scope=BudgetScope.PROJECT),
                name="budget_one_per_project_and_period",
            ),
            models.UniqueConstraint(
                fields=["user", "period"],
                condition=Q(scope=BudgetScope.USER),
                name="budget_one_per_user_and_period",
            ),
        ]

    def __str__(self) -> str:
        owner = self.project or self.user or "organisation"
        return f"{owner} {self.period} {self.limit_amount} {self.currency}"

    @property
    def effective_limit(self) -> Decimal:
        return self.limit_amount + (self.carried_over if self.roll_over else Decimal("0"))


class SpendStatus(models.TextChoices):
    RESERVED = "reserved", "Reserved"
    SETTLED = "settled", "Settled"
    RELEASED = "released", "Released"


class SpendEntry(models.Model):
    """A reservation made before a paid call, settled with the real cost or released.

    An entry without a budget holds the call's share of its job's own cap.
    """

    budget = models.ForeignKey(
        Budget, null=True, blank=True, on_delete=models.CASCADE, related_name="entries"
    )
    status = models.CharField(max_length=16, choices=SpendStatus, default=SpendStatus.RESERVED)
    reserved_amount = models.DecimalField(max_digits=12, decimal_places=4)
    settled_amount = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    job = models.ForeignKey(
        "enrichment.EnrichmentJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="spend_entries",
    )
    provider_call = models.ForeignKey(
        "providers.ProviderCall",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="spend_entries",
    )
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    #: A reservation still open then belongs to a worker that stopped: beat releases it.
    expires_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "spend entries"
        indexes = [
            models.Index(fields=["budget", "status"], name="spend_budget_status"),
            models.Index(fields=["status", "expires_at"], name="spend_status_expiry"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(reserved_amount__gte=0) & Q(settled_amount__gte=0),
                name="spend_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.budget_id} {self.status} {self.settled_amount or self.reserved_amount}"


class BudgetAlert(models.Model):
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    threshold = models.PositiveSmallIntegerField()
    period_start = models.DateTimeField()
    spent = models.DecimalField(max_digits=12, decimal_places=4)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One alert per threshold per period, however many workers cross it at once.
            models.UniqueConstraint(
                fields=["budget", "threshold", "period_start"], name="budget_alert_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget} reached {self.threshold}%"
