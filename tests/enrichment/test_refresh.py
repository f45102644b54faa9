"""Jobs nobody uploads: beat's re-enrichment of stale contacts, and a job for a contact
created outside a job. Both update the contact they came from; neither duplicates it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import EnrichedContact, ReviewStatus
from enrichment import jobs, tasks
from enrichment.models import EnrichmentJob, JobStatus, JobType
from tests.factories import ContactEmailFactory, EnrichedContactFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def offline(settings):
    settings.ENRICH_OFFLINE = True
    settings.ENRICH_REFRESH_AFTER_DAYS = 90
    settings.ENRICH_AUTO_PROVIDERS = []
    settings.ENRICH_AUTO_FIELDS = ["email"]


def aged(days: int, **fields) -> EnrichedContact:
    contact = EnrichedContactFactory(**fields)
    EnrichedContact.objects.filter(pk=contact.pk).update(
        enriched_at=timezone.now() - timedelta(days=days)
    )
    contact.refresh_from_db()
    return contact


def test_beat_files_one_job_per_project_for_the_stale_contacts_only():
    sales = ProjectFactory(name="Sales")
    stale = aged(120, first_name="Ada")
    stale_sales = aged(100, first_name="Grace", project=sales)
    aged(10, first_name="Fresh")
    aged(200, first_name="Rejected", review_status=ReviewStatus.REJECTED)

    result = tasks.refresh_stale_contacts()

    created = EnrichmentJob.objects.filter(job_type=JobType.SCHEDULED).order_by("pk")
    assert result["items"] == 2
    assert sorted(created.values_list("project_id", flat=True), key=str) == sorted(
        [None, sales.pk], key=str
    )
    firsts = sorted(i.input["first_name"] for job in created for i in job.items.all())
    assert firsts == [stale.first_name, stale_sales.first_name]
    # A second run while these are unfinished files nothing more.
    assert tasks.refresh_stale_contacts() == {"jobs": [], "items": 0}


def test_a_refresh_job_updates_the_contacts_it_came_from():
    contact = aged(120, first_name="Ada", last_name="Lovelace", domain="acme.example")
    ContactEmailFactory(contact=contact, email="ada.lovelace@acme.example", is_primary=True)
    before = EnrichedContact.objects.count()

    (job,) = tasks.refresh.contacts_refresh_jobs_create()
    jobs.job_work(job_id=job.pk)

    job.refresh_from_db()
    contact.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert EnrichedContact.objects.count() == before
    assert job.items.get().contact_id == contact.pk
    assert timezone.now() - contact.enriched_at < timedelta(minutes=1)
    assert not tasks.refresh.contacts_refresh_jobs_create()  # now fresh


def test_a_contact_created_in_the_admin_is_enriched_when_the_trigger_is_on(
    settings, alice_client, django_capture_on_commit_callbacks
):
    settings.ENRICH_ON_CONTACT_CREATE = True
    form = {
        "first_name": "Katherine",
        "last_name": "Johnson",
        "company": "NASA",
        "domain": "nasa.example",
        "source": "manual",
        "confidence_score": "50",
        "review_status": "pending",
        "emails-TOTAL_FORMS": "0",
        "emails-INITIAL_FORMS": "0",
        "emails-MIN_NUM_FORMS": "0",
        "emails-MAX_NUM_FORMS": "1000",
    }
    with django_capture_on_commit_callbacks() as queued:
        response = alice_client.post("/admin/contacts/enrichedcontact/add/", form)

    assert response.status_code == 302, response.content[:2000]
    contact = EnrichedContact.objects.get(last_name="Johnson")
    job = EnrichmentJob.objects.get(job_type=JobType.TRIGGER)
    assert job.items.get().input == {
        "first_name": "Katherine",
        "last_name": "Johnson",
        "company_name": "NASA",
        "domain": "nasa.example",
    }
    assert len(queued) == 1  # its work goes to the workers once the admin's save commits

    jobs.job_work(job_id=job.pk)

    assert EnrichedContact.objects.count() == 1
    assert job.items.get().contact_id == contact.pk


def test_no_trigger_when_it_is_off_or_when_a_job_created_the_contact(settings):
    settings.ENRICH_ON_CONTACT_CREATE = False
    EnrichedContactFactory()
    assert not EnrichmentJob.objects.exists()

    settings.ENRICH_ON_CONTACT_CREATE = True
    job = jobs.job_create(
        rows=[{"name": "Ada Lovelace", "domain": "acme.example"}],
        mapping={"full_name": "name", "domain": "domain"},
        name="upload",
        offline=True,
    )
    jobs.job_work(job_id=job.pk)

    assert EnrichedContact.objects.filter(job=job).count() == 1
    assert list(EnrichmentJob.objects.values_list("pk", flat=True)) == [job.pk]


def test_a_misconfigured_trigger_still_saves_the_contact(settings):
    settings.ENRICH_ON_CONTACT_CREATE = True
    settings.ENRICH_AUTO_PROVIDERS = ["no-such-provider"]

    contact = EnrichedContactFactory()

    assert EnrichedContact.objects.filter(pk=contact.pk).exists()
    assert not EnrichmentJob.objects.exists()


def test_the_rows_of_a_refresh_are_read_in_a_fixed_number_of_queries():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from enrichment import refresh

    def queries_for(count: int) -> int:
        contacts = [aged(120, domain=f"d{n}.example") for n in range(count)]
        for contact in contacts:
            ContactEmailFactory(contact=contact, email=f"a@{contact.domain}", is_primary=True)
        stale = EnrichedContact.objects.filter(pk__in=[c.pk for c in contacts])
        with CaptureQueriesContext(connection) as reading:
            rows = [refresh.contact_row(c) for c in stale.prefetch_related("emails")]
        assert all(row["email"].startswith("a@") for row in rows)
        return len(reading.captured_queries)

    assert queries_for(1) == queries_for(6)
