"""factory-boy factories; use ``.build()`` where no database is needed."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from budgets.models import Budget, BudgetPeriod, BudgetScope, Project
from contacts.models import ContactEmail, ContactSource, CrmBrand, EnrichedContact
from enrichment.models import EnrichmentJob, JobType
from providers.models import Provider, ProviderKind


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.LazyAttribute(lambda o: o.name.lower().replace(" ", "-"))


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"provider-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    kind = ProviderKind.BUILTIN
    adapter = "sandbox"
    price_per_call = Decimal("0.01")


class CrmBrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CrmBrand

    name = factory.Sequence(lambda n: f"Brand {n}")
    domain = factory.LazyAttribute(lambda o: o.name.lower().replace(" ", "") + ".example")


class EnrichedContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnrichedContact

    first_name = factory.Sequence(lambda n: f"Ada{n}")
    last_name = "Lovelace"
    company = "Analytical Engines"
    domain = "analytical-engines.example"
    source = ContactSource.MANUAL
    confidence_score = 60


class ContactEmailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactEmail

    contact = factory.SubFactory(EnrichedContactFactory)
    email = factory.LazyAttribute(
        lambda o: f"{o.contact.first_name.lower()}.{o.contact.last_name.lower()}@{o.contact.domain}"
    )
    domain = factory.LazyAttribute(lambda o: o.email.split("@")[1])


class EnrichmentJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnrichmentJob

    job_type = JobType.BULK
    total_items = 10


class BudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Budget

    scope = BudgetScope.ORGANISATION
    period = BudgetPeriod.MONTHLY
    limit_amount = Decimal("100.00")
    period_start = factory.LazyFunction(timezone.now)
