"""Reserving, settling and releasing spend; alerts, periods and expired reservations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from budgets import services
from budgets.models import Budget, BudgetAlert, BudgetPeriod, BudgetScope, SpendEntry, SpendStatus
from providers.errors import BudgetExhausted
from tests.factories import BudgetFactory, EnrichmentJobFactory, ProjectFactory

pytestmark = pytest.mark.django_db

TTL = timedelta(minutes=5)
PRICE = Decimal("0.10")


def reserve(amount=PRICE, **context):
    return services.spend_reserve(amount=amount, ttl=TTL, **context)


def test_a_call_that_costs_nothing_reserves_nothing():
    BudgetFactory(limit_amount=Decimal("0"))

    assert reserve(Decimal(0)) is None
    assert not SpendEntry.objects.exists()


def test_it_reserves_against_every_budget_that_applies(bob):
    project = ProjectFactory()
    org = BudgetFactory()
    mine = BudgetFactory(scope=BudgetScope.PROJECT, project=project)
    theirs = BudgetFactory(scope=BudgetScope.PROJECT, project=ProjectFactory())
    user = BudgetFactory(scope=BudgetScope.USER, user=bob)

    reservation = reserve(project_id=project.pk, user_id=bob.pk)

    assert len(reservation.entry_ids) == 3
    reserved = dict(Budget.objects.values_list("pk", "reserved"))
    assert reserved[org.pk] == reserved[mine.pk] == reserved[user.pk] == PRICE
    assert reserved[theirs.pk] == 0


def test_a_call_beyond_a_budget_is_refused_naming_it_and_reserves_nothing():
    BudgetFactory(limit_amount=Decimal("1.00"))
    project = ProjectFactory(name="Acme outbound")
    BudgetFactory(scope=BudgetScope.PROJECT, project=project, limit_amount=Decimal("0.15"))
    reserve(project_id=project.pk)

    with pytest.raises(BudgetExhausted) as excinfo:
        reserve(project_id=project.pk)

    assert excinfo.value.kind == "budget_exhausted"
    assert "Acme outbound" in excinfo.value.budget
    # The organisation's reservation of the refused call was rolled back with it.
    assert Budget.objects.get(scope=BudgetScope.ORGANISATION).reserved == PRICE
    assert SpendEntry.objects.count() == 2


def test_a_budget_without_auto_stop_only_alerts():
    BudgetFactory(limit_amount=Decimal("0.10"), auto_stop=False)
    services.spend_settle(reserve(), cost=PRICE)

    services.spend_settle(reserve(), cost=PRICE)

    assert Budget.objects.get().spent == Decimal("0.20")


def test_settling_moves_the_reservation_to_spend():
    budget = BudgetFactory()
    reservation = reserve()

    services.spend_settle(reservation, cost=Decimal("0.07"))

    budget.refresh_from_db()
    assert (budget.reserved, budget.spent) == (0, Decimal("0.07"))
    entry = SpendEntry.objects.get()
    assert (entry.status, entry.settled_amount) == (SpendStatus.SETTLED, Decimal("0.07"))


def test_settling_twice_counts_once():
    budget = BudgetFactory()
    reservation = reserve()

    services.spend_settle(reservation, cost=PRICE)
    services.spend_settle(reservation, cost=PRICE)

    budget.refresh_from_db()
    assert budget.spent == PRICE


def test_a_zero_cost_or_a_refusal_releases_the_reservation():
    budget = BudgetFactory()
    services.spend_settle(reserve(), cost=Decimal(0))
    services.spend_release(reserve())

    budget.refresh_from_db()
    assert (budget.reserved, budget.spent) == (0, 0)
    assert set(SpendEntry.objects.values_list("status", flat=True)) == {SpendStatus.RELEASED}


def test_an_expired_reservation_is_released_once():
    budget = BudgetFactory()
    reserve()
    later = timezone.now() + TTL + timedelta(seconds=1)

    assert services.spend_release_expired(now=timezone.now()) == 0
    assert services.spend_release_expired(now=later) == 1
    assert services.spend_release_expired(now=later) == 0

    budget.refresh_from_db()
    assert budget.reserved == 0


def test_the_jobs_own_cap_is_enforced_and_its_cost_counted():
    job = EnrichmentJobFactory(cost_cap=Decimal("0.25"))
    services.spend_settle(reserve(job_id=job.pk), cost=PRICE)
    reserve(job_id=job.pk)  # held, not yet settled

    with pytest.raises(BudgetExhausted) as excinfo:
        reserve(job_id=job.pk)

    assert f"job #{job.pk}" in excinfo.value.budget
    job.refresh_from_db()
    assert job.cost == PRICE


def test_crossing_thresholds_records_each_alert_once_per_period():
    budget = BudgetFactory(limit_amount=Decimal("1.00"))
    services.spend_settle(reserve(Decimal("0.60")), cost=Decimal("0.60"))
    services.spend_settle(reserve(Decimal("0.05")), cost=Decimal("0.05"))
    services.spend_settle(reserve(Decimal("0.20")), cost=Decimal("0.20"))

    thresholds = list(BudgetAlert.objects.filter(budget=budget).values_list("threshold", flat=True))
    assert sorted(thresholds) == [50, 80]
    assert budget.alert_thresholds == [50, 80, 95]


def test_a_new_period_starts_from_zero_and_carries_what_was_left_over():
    start = datetime(2026, 10, 1, tzinfo=UTC)
    budget = BudgetFactory(
        limit_amount=Decimal("10.00"), roll_over=True, period_start=start, spent=Decimal("4")
    )

    services.budget_roll_period(budget=budget, now=datetime(2026, 11, 3, 12, tzinfo=UTC))

    budget.refresh_from_db()
    assert budget.period_start == datetime(2026, 11, 1, tzinfo=UTC)
    assert (budget.spent, budget.carried_over) == (0, Decimal("6.00"))
    assert budget.effective_limit == Decimal("16.00")


def test_a_total_budget_never_rolls():
    budget = BudgetFactory(period=BudgetPeriod.TOTAL, spent=Decimal("3"))

    assert services.budgets_roll_periods(now=timezone.now() + timedelta(days=400)) == 0
    budget.refresh_from_db()
    assert budget.spent == Decimal("3")


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (BudgetPeriod.DAILY, datetime(2026, 12, 3, tzinfo=UTC)),
        (BudgetPeriod.WEEKLY, datetime(2026, 11, 30, tzinfo=UTC)),
        (BudgetPeriod.MONTHLY, datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_period_starts(period, expected):
    assert services.period_start_for(period, datetime(2026, 12, 3, 17, 5, tzinfo=UTC)) == expected


def _tables_written(queries) -> list[str]:
    """The budget and job rows a transaction writes or locks, in order."""
    order = []
    for query in queries:
        sql = query["sql"]
        for table in ("budgets_budget", "enrichment_enrichmentjob"):
            locks = sql.startswith("UPDATE") or "FOR UPDATE" in sql
            if locks and f'"{table}"' in sql.split(" WHERE ")[0] and table not in order:
                order.append(table)
    return order


def test_settling_locks_budgets_and_the_job_in_the_order_reserving_does():
    # Opposite orders deadlock two workers: one reserving (budget, then job) and one settling
    # (job, then budget) each wait for the other's row until PostgreSQL kills one.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    BudgetFactory()
    job = EnrichmentJobFactory(cost_cap=Decimal("10"))
    with CaptureQueriesContext(connection) as reserving:
        reservation = reserve(job_id=job.pk)
    with CaptureQueriesContext(connection) as settling:
        services.spend_settle(reservation, cost=PRICE)

    assert _tables_written(reserving.captured_queries) == [
        "budgets_budget",
        "enrichment_enrichmentjob",
    ]
    assert _tables_written(settling.captured_queries) == [
        "budgets_budget",
        "enrichment_enrichmentjob",
    ]


def test_a_job_without_a_cap_is_not_locked_by_a_reservation():
    BudgetFactory()
    job = EnrichmentJobFactory(cost_cap=None)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as reserving:
        reserve(job_id=job.pk)

    assert _tables_written(reserving.captured_queries) == ["budgets_budget"]
