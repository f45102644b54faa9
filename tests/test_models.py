"""Constraints that protect the data, checked on the real database (PostgreSQL in make test)."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from budgets.models import BudgetScope
from contacts.models import ContactActivity, ContactEmail, ReviewStatus
from tests.factories import (
    BudgetFactory,
    ContactEmailFactory,
    EnrichedContactFactory,
    EnrichmentJobFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.django_db


def _violates(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_migrations_are_complete_and_applied():
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_an_email_is_unique_per_contact():
    email = ContactEmailFactory()
    assert _violates(
        lambda: ContactEmail.objects.create(
            contact=email.contact, email=email.email, domain=email.domain
        )
    )
    # The same address on another contact is allowed (two records of one person).
    ContactEmailFactory(email=email.email)


def test_a_contact_has_at_most_one_primary_email():
    first = ContactEmailFactory(is_primary=True)
    assert _violates(
        lambda: ContactEmailFactory(contact=first.contact, email="x@y.example", is_primary=True)
    )


def test_confidence_must_be_between_0_and_100():
    assert _violates(lambda: EnrichedContactFactory(confidence_score=101))


def test_an_approved_contact_must_have_passed_compliance():
    assert _violates(
        lambda: EnrichedContactFactory(
            review_status=ReviewStatus.APPROVED, compliance_check_passed=False
        )
    )
    EnrichedContactFactory(review_status=ReviewStatus.APPROVED, compliance_check_passed=True)


def test_job_counters_stay_consistent():
    assert _violates(lambda: EnrichmentJobFactory(total_items=2, processed_items=3))
    assert _violates(lambda: EnrichmentJobFactory(processed_items=1, succeeded_items=2))
    assert _violates(lambda: EnrichmentJobFactory(cost=Decimal("-1")))
    assert _violates(lambda: EnrichmentJobFactory(retry_count=4, max_retries=3))


def test_budget_scope_must_match_its_owner():
    project = ProjectFactory()
    assert _violates(lambda: BudgetFactory(scope=BudgetScope.PROJECT))
    assert _violates(lambda: BudgetFactory(scope=BudgetScope.ORGANISATION, project=project))
    BudgetFactory(scope=BudgetScope.PROJECT, project=project)
    assert _violates(lambda: BudgetFactory(scope=BudgetScope.PROJECT, project=project))


def test_only_one_organisation_budget_per_period():
    BudgetFactory()
    assert _violates(lambda: BudgetFactory())


def test_the_activity_log_is_append_only():
    contact = EnrichedContactFactory()
    entry = ContactActivity.objects.create(contact=contact, action="discovered")
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        ContactActivity.objects.filter(pk=entry.pk).update(action="edited")
    with pytest.raises(TypeError):
        ContactActivity.objects.all().delete()
