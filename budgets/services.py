"""Spending from budgets: reserve before a paid call, settle or release after.

Every budget that applies to a call (the organisation's, the project's, the user's) and the
job's own cap are checked and reserved in one transaction, each with a conditional update, so
concurrent workers cannot overspend: a call that would exceed an auto-stop budget or the cap
is refused before anything is sent (:class:`~providers.errors.BudgetExhausted`). After the call
the reservation is settled with the real cost (crossing alert thresholds records one
:class:`~budgets.models.BudgetAlert` per threshold and period) or released. A reservation left
by a worker that stopped expires and is released by beat (:func:`spend_release_expired`).
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum, Value
from django.utils import timezone

from budgets.models import Budget, BudgetAlert, BudgetPeriod, BudgetScope, SpendEntry, SpendStatus
from providers.errors import BudgetExhausted

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reservation:
    """The spend entries one call reserved (one per budget, one for the job's cap)."""

    entry_ids: tuple[int, ...]
    amount: Decimal


def budgets_applying(*, project_id: int | None, user_id: int | None) -> QuerySet[Budget]:
    """The enabled budgets a call for this project and user spends from."""
    owners = Q(scope=BudgetScope.ORGANISATION)
    if project_id is not None:
        owners |= Q(scope=BudgetScope.PROJECT, project_id=project_id)
    if user_id is not None:
        owners |= Q(scope=BudgetScope.USER, user_id=user_id)
    return Budget.objects.filter(owners, enabled=True).order_by("pk")


def budgets_have_room(
    *, project_id: int | None, user_id: int | None, amount: Decimal = Decimal(0)
) -> bool:
    """Whether every auto-stop budget a call would spend from has room for ``amount`` (or
    any room at all, for 0)."""
    for budget in budgets_applying(project_id=project_id, user_id=user_id).filter(auto_stop=True):
        budget = budget_roll_period(budget=budget)
        left = budget.effective_limit - budget.spent - budget.reserved
        if left <= 0 or left < amount:
            return False
    return True


def budget_label(budget: Budget) -> str:
    owner = budget.project or budget.user or "organisation"
    return (
        f"{budget.get_scope_display().lower()} budget #{budget.pk} ({owner}, "
        f"{budget.get_period_display().lower()}, {budget.effective_limit} {budget.currency})"
    )


@transaction.atomic
def spend_reserve(
    *,
    amount: Decimal,
    ttl: timedelta,
    project_id: int | None = None,
    user_id: int | None = None,
    job_id: int | None = None,
    provider_call_id: int | None = None,
    description: str = "",
) -> Reservation | None:
    """Reserve ``amount`` against every budget that applies and the job's cap, or refuse.

    Returns ``None`` for a call that costs nothing. Raises :class:`BudgetExhausted` naming the
    first budget without room; nothing is reserved then.
    """
    if amount <= 0:
        return None
    now = timezone.now()
    entries: list[SpendEntry] = []
    common = {
        "status": SpendStatus.RESERVED,
        "reserved_amount": amount,
        "job_id": job_id,
        "provider_call_id": provider_call_id,
        "description": description[:200],
        "expires_at": now + ttl,
    }
    for budget in budgets_applying(project_id=project_id, user_id=user_id):
        budget = budget_roll_period(budget=budget, now=now)
        after = F("spent") + F("reserved") + Value(amount)
        room = (
            Q(auto_stop=False)
            | Q(roll_over=False, limit_amount__gte=after)
            | Q(roll_over=True, limit_amount__gte=after - F("carried_over"))
        )
        reserved = Budget.objects.filter(room, pk=budget.pk).update(
            reserved=F("reserved") + Value(amount)
        )
        if not reserved:
            raise BudgetExhausted(budget_label(budget), amount=amount)
        entries.append(SpendEntry.objects.create(budget=budget, **common))
    if job_id is not None:
        _reserve_job_cap(job_id, amount)
        entries.append(SpendEntry.objects.create(budget=None, **common))
    return Reservation(tuple(e.pk for e in entries), amount)


def _reserve_job_cap(job_id: int, amount: Decimal) -> None:
    from enrichment.models import EnrichmentJob

    # Most jobs have no cap: their row is not locked, so paid calls of several workers do not
    # queue behind each other's item writes.
    if not EnrichmentJob.objects.filter(pk=job_id, cost_cap__isnull=False).exists():
        return
    job = EnrichmentJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.cost_cap is None:
        return
    held = SpendEntry.objects.filter(
        job_id=job_id, budget=None, status=SpendStatus.RESERVED
    ).aggregate(total=Sum("reserved_amount"))["total"] or Decimal(0)
    if job.cost + held + amount > job.cost_cap:
        raise BudgetExhausted(
            f"job #{job_id} cap ({job.cost_cap}, spent {job.cost})", amount=amount
        )


@transaction.atomic
def spend_settle(reservation: Reservation | None, *, cost: Decimal) -> None:
    """The call cost ``cost``: move the reservation to spend; a zero cost releases it."""
    if reservation is None:
        return
    if cost <= 0:
        _close(reservation.entry_ids, SpendStatus.RELEASED, Decimal(0))
        return
    budgets = _close(reservation.entry_ids, SpendStatus.SETTLED, cost)
    for budget in Budget.objects.filter(pk__in=budgets):
        _record_alerts(budget)


@transaction.atomic
def spend_release(reservation: Reservation | None) -> None:
    """The call was not made (or cost nothing): give the reservation back."""
    if reservation is not None:
        _close(reservation.entry_ids, SpendStatus.RELEASED, Decimal(0))


def spend_release_expired(*, now: datetime | None = None) -> int:
    """Release reservations whose call's worker stopped before settling them (beat)."""
    now = now or timezone.now()
    expired = list(
        SpendEntry.objects.filter(status=SpendStatus.RESERVED, expires_at__lt=now).values_list(
            "pk", flat=True
        )
    )
    released = 0
    for pk in expired:
        with transaction.atomic():
            released += bool(_close((pk,), SpendStatus.RELEASED, Decimal(0)))
    if released:
        logger.warning("expired spend reservations released", extra={"count": released})
    return released


def _close(entry_ids: Iterable[int], status: str, cost: Decimal) -> set[int]:
    """Settle or release the still-reserved entries; returns the budgets they touched."""
    from enrichment.models import EnrichmentJob

    now = timezone.now()
    touched: set[int] = set()
    # In the order they were reserved (budgets, then the job): the same lock order as
    # spend_reserve, so a worker settling and one reserving cannot deadlock.
    for entry in SpendEntry.objects.filter(pk__in=list(entry_ids)).order_by("pk"):
        # Conditional: an entry settled or released by another process is left alone.
        changed = SpendEntry.objects.filter(pk=entry.pk, status=SpendStatus.RESERVED).update(
            status=status, settled_amount=cost, settled_at=now
        )
        if not changed:
            continue
        if entry.budget_id is not None:
            Budget.objects.filter(pk=entry.budget_id).update(
                reserved=F("reserved") - Value(entry.reserved_amount),
                spent=F("spent") + Value(cost),
            )
            touched.add(entry.budget_id)
        elif entry.job_id is not None and cost > 0:
            EnrichmentJob.objects.filter(pk=entry.job_id).update(cost=F("cost") + Value(cost))
    return touched


def _record_alerts(budget: Budget) -> None:
    limit = budget.effective_limit
    if limit <= 0:
        return
    used = budget.spent * 100 / limit
    for threshold in sorted({int(t) for t in budget.alert_thresholds or [] if str(t).isdigit()}):
        if used < threshold:
            break
        _, created = BudgetAlert.objects.get_or_create(
            budget=budget,
            threshold=threshold,
            period_start=budget.period_start,
            defaults={"spent": budget.spent},
        )
        if created:
            logger.warning(
                "budget threshold reached",
                extra={"budget_id": budget.pk, "threshold": threshold, "spent": str(budget.spent)},
            )


# --- periods -------------------------------------------------------------------------------


def period_start_for(period: str, now: datetime) -> datetime:
    """The start (UTC) of the ``period`` that contains ``now``."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == BudgetPeriod.DAILY:
        return day
    if period == BudgetPeriod.WEEKLY:
        return day - timedelta(days=day.weekday())
    if period == BudgetPeriod.MONTHLY:
        return day.replace(day=1)
    raise ValueError(f"{period} has no periods")


def period_end(budget: Budget) -> datetime | None:
    start = budget.period_start.astimezone(UTC)
    if budget.period == BudgetPeriod.DAILY:
        return start + timedelta(days=1)
    if budget.period == BudgetPeriod.WEEKLY:
        return start + timedelta(days=7)
    if budget.period == BudgetPeriod.MONTHLY:
        return start + timedelta(days=calendar.monthrange(start.year, start.month)[1])
    return None


def budget_roll_period(*, budget: Budget, now: datetime | None = None) -> Budget:
    """Start a new period when the budget's has ended: spend back to zero, what was left
    carried over for a rolling budget. Idempotent across processes (conditional update)."""
    now = now or timezone.now()
    end = period_end(budget)
    if end is None or now < end:
        return budget
    carried = max(Decimal(0), budget.effective_limit - budget.spent) if budget.roll_over else 0
    Budget.objects.filter(pk=budget.pk, period_start=budget.period_start).update(
        period_start=period_start_for(budget.period, now), spent=0, carried_over=carried
    )
    budget.refresh_from_db()
    return budget


def budgets_roll_periods(*, now: datetime | None = None) -> int:
    """Roll every budget whose period has ended (beat); returns how many rolled."""
    rolled = 0
    for budget in Budget.objects.exclude(period=BudgetPeriod.TOTAL):
        before = budget.period_start
        rolled += budget_roll_period(budget=budget, now=now).period_start != before
    return rolled
