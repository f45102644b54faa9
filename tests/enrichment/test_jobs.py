"""The job engine: items claimed with leases, retries and dead letters, budget pauses,
cancelling, and one contact per person however often a file is enriched."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from contacts.models import EnrichedContact
from enrichment import jobs
from enrichment.models import ItemStatus, JobEvent, JobItem, JobStatus
from tests.enrichment.emails.conftest import OUTSIDE_DNS
from tests.factories import BudgetFactory, ProviderFactory
from tests.support.dns_server import DnsServer, mail_zone

pytestmark = pytest.mark.django_db

MAPPING = {"full_name": "name", "domain": "domain"}
ROWS = [
    {"name": "Ada Lovelace", "domain": "acme.example"},
    {"name": "Grace Hopper", "domain": "navy.example"},
    {"name": "", "domain": "nobody.example"},
]
HUNTER = Path(__file__).parents[1] / "providers" / "fixtures" / "hunter"


def offline_job(rows=ROWS, **options):
    return jobs.job_create(rows=rows, mapping=MAPPING, name="t", offline=True, **options)


def test_a_job_is_created_with_its_items_before_any_work():
    job = offline_job()

    assert job.status == JobStatus.PENDING
    assert list(job.items.values_list("index", "status")) == [
        (0, "pending"),
        (1, "pending"),
        (2, "pending"),
    ]


def test_unknown_fields_and_providers_are_refused_before_anything_is_stored():
    with pytest.raises(ValueError, match="unknown field"):
        offline_job(fields=["email", "shoe_size"])
    with pytest.raises(ValueError, match="unknown provider"):
        offline_job(providers=["nope"])
    assert not JobItem.objects.exists()


def test_two_workers_never_claim_the_same_item():
    job = offline_job()

    first = jobs.items_claim(job_id=job.pk, limit=2)
    second = jobs.items_claim(job_id=job.pk, limit=2)

    assert [i.index for i in first] == [0, 1]
    assert [i.index for i in second] == [2]
    assert jobs.items_claim(job_id=job.pk, limit=2) == []


def test_an_item_whose_worker_died_is_claimed_again_when_its_lease_ends():
    job = offline_job()
    (held,) = jobs.items_claim(job_id=job.pk, limit=1)
    JobItem.objects.filter(pk=held.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    again = jobs.items_claim(job_id=job.pk, limit=1)

    assert [i.pk for i in again] == [held.pk]
    assert again[0].claim_token != held.claim_token


def test_the_job_runs_to_completion_with_every_item_accounted_for():
    job = offline_job()

    outcome = jobs.job_work(job_id=job.pk)

    job.refresh_from_db()
    assert outcome.processed == 3
    assert job.status == JobStatus.COMPLETED
    assert (job.processed_items, job.succeeded_items, job.failed_items) == (3, 2, 0)
    statuses = dict(job.items.values_list("index", "status"))
    assert statuses == {0: "succeeded", 1: "succeeded", 2: "skipped"}
    ada = job.items.get(index=0).output
    assert (ada["first_name"], ada["last_name"], ada["email"]) == (
        "Ada",
        "Lovelace",
        "ada.lovelace@acme.example",
    )
    kinds = list(JobEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds == ["enrichment_started", "enrichment_completed"]


def test_a_failing_item_is_retried_with_backoff_then_dead_lettered(monkeypatch):
    job = offline_job(rows=ROWS[:1])

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(jobs, "_item_store", broken)
    jobs.job_work(job_id=job.pk)
    item = job.items.get()
    assert (item.status, item.attempts) == (ItemStatus.PENDING, 1)
    assert timedelta(seconds=4) < item.retry_at - timezone.now() <= timedelta(seconds=5)

    JobItem.objects.filter(pk=item.pk).update(retry_at=timezone.now())
    jobs.job_work(job_id=job.pk)
    item.refresh_from_db()
    assert (item.status, item.attempts) == (ItemStatus.PENDING, 2)
    assert timedelta(seconds=14) < item.retry_at - timezone.now() <= timedelta(seconds=15)

    JobItem.objects.filter(pk=item.pk).update(retry_at=timezone.now())
    outcome = jobs.job_work(job_id=job.pk)
    item.refresh_from_db()
    job.refresh_from_db()
    assert (item.status, item.attempts) == (ItemStatus.FAILED, 3)
    assert "the disk is full" in item.error
    assert job.status == JobStatus.COMPLETED and job.failed_items == 1
    assert outcome.retry_in is None

    monkeypatch.undo()
    assert jobs.job_retry_failed(job=job) == 1
    jobs.job_work(job_id=job.pk)
    item.refresh_from_db()
    assert item.status == ItemStatus.SUCCEEDED


def test_a_cancelled_job_skips_what_is_left():
    job = offline_job()

    jobs.job_cancel(job=job)
    outcome = jobs.job_work(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert outcome.processed == 0 and outcome.stopped == JobStatus.CANCELLED
    assert set(job.items.values_list("error", flat=True)) == {"cancelled"}


def test_the_same_file_twice_makes_no_new_contacts_and_keeps_its_confidences():
    jobs.job_work(job_id=offline_job().pk)
    before = {c.pk: (c.confidence_score, c.field_sources) for c in EnrichedContact.objects.all()}

    jobs.job_work(job_id=offline_job().pk)

    after = {c.pk: (c.confidence_score, c.field_sources) for c in EnrichedContact.objects.all()}
    assert len(after) == 2
    assert after == before


@pytest.fixture
def zones(settings):
    server = DnsServer({**OUTSIDE_DNS, **mail_zone("reddit.com")}).start()
    settings.ENRICH_DNS_NAMESERVERS = [server.nameserver]
    yield server
    server.stop()


@pytest.fixture
def hunter(httpserver, settings):
    settings.ENRICH_OFFLINE = False
    body = json.loads((HUNTER / "email_finder.json").read_text())
    body["data"]["position"] = "Cofounder"
    httpserver.expect_request("/v2/email-finder").respond_with_json(body)
    httpserver.expect_request("/v2/domain-search").respond_with_json({"data": {"emails": []}})
    provider = ProviderFactory(
        slug="hunter", adapter="hunter", base_url=httpserver.url_for("/v2"), concurrency=4
    )
    provider.set_credentials({"api_key": "hunter-key-1234"})
    provider.save()
    return provider


def provider_job(rows):
    return jobs.job_create(
        rows=rows,
        mapping={"first_name": "first", "last_name": "last", "domain": "domain"},
        name="paid",
        fields=["title"],
        providers=["hunter"],
        min_confidence=60,
    )


def test_a_job_pauses_when_its_budget_runs_out_and_resumes_when_it_is_raised(hunter, zones):
    budget = BudgetFactory(limit_amount=Decimal("0.03"))  # room for one 0.025 call
    rows = [
        {"first": first, "last": last, "domain": "reddit.com"}
        for first, last in (("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"))
    ]
    job = provider_job(rows)

    outcome = jobs.job_work(job_id=job.pk)

    job.refresh_from_db()
    assert outcome.stopped == JobStatus.PAUSED
    assert job.status == JobStatus.PAUSED
    assert "budget exhausted" in job.error_message
    assert dict(job.items.values_list("index", "status")) == {
        0: "succeeded",
        1: "pending",
        2: "pending",
    }
    assert jobs.jobs_needing_work() == []  # still no room: it stays paused

    budget.limit_amount = Decimal("1.00")
    budget.save()
    assert jobs.jobs_needing_work() == [job.pk]
    jobs.job_work(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.succeeded_items == 3
    assert job.items.get(index=1).output["title"] == "Cofounder"


def test_a_lead_is_not_asked_about_past_its_cost_cap(hunter, zones):
    job = jobs.job_create(
        rows=[{"first": "Ada", "last": "Lovelace", "domain": "reddit.com"}],
        mapping={"first_name": "first", "last_name": "last", "domain": "domain"},
        name="capped",
        fields=["title"],
        providers=["hunter"],
        min_confidence=60,
        cost_cap_per_lead=Decimal("0.01"),
    )

    jobs.job_work(job_id=job.pk)

    output = job.items.get().output
    assert "title" not in output
    assert "cost cap" in " ".join(output["provider_errors"])
