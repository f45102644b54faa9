"""The finder's API, admin and Celery tasks (run eagerly in-process)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from contacts.models import ContactEmail, GenerationMethod
from enrichment import tasks
from enrichment.jobs import job_create
from enrichment.models import EnrichmentJob, JobStatus
from tests.factories import ContactEmailFactory, EnrichedContactFactory
from tests.support.dns_server import mail_zone
from tests.support.smtp_server import Greylist, KnownMailboxes

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def zone(dns_server, settings):
    server = dns_server(mail_zone("acme.example"))
    settings.ENRICH_DNS_NAMESERVERS = [server.nameserver]
    settings.ENRICH_OFFLINE = False
    cache.clear()
    yield server
    cache.clear()


def _known(first, last, email):
    contact = EnrichedContactFactory(first_name=first, last_name=last, domain="acme.example")
    return ContactEmailFactory(
        contact=contact, email=email, generation_method=GenerationMethod.IMPORT
    )


def test_find_api_uses_stored_evidence_and_explains_the_score(alice_client, zone):
    _known("John", "Smith", "jsmith@acme.example")
    response = alice_client.post(
        "/api/enrichment/emails/find",
        {"full_name": "Dr. Jane Doe", "domain": "https://acme.example/"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["email"] == "jdoe@acme.example"
    assert body["domain_pattern"] == "flast"
    assert sum(f["points"] for f in body["breakdown"]) == body["score"]


def test_find_api_errors_are_json_with_a_code(alice_client):
    from django.test import Client

    bad = alice_client.post(
        "/api/enrichment/emails/find", {"domain": "acme.example"}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid"
    webmail = alice_client.post(
        "/api/enrichment/emails/find",
        {"full_name": "Jane Doe", "domain": "gmail.com"},
        content_type="application/json",
    )
    assert webmail.status_code == 422 and webmail.json()["error"] == "not_findable"
    assert Client().post("/api/enrichment/emails/find", {}).status_code == 403


def test_verify_api(alice_client, zone):
    body = alice_client.post(
        "/api/enrichment/emails/verify",
        {"email": "jane@acme.example"},
        content_type="application/json",
    ).json()
    assert body["status"] == "unknown" and body["mx_host"] == "mx.acme.example"


def test_bounce_api_marks_the_address(alice_client, zone):
    _known("John", "Smith", "jsmith@acme.example")
    response = alice_client.post(
        "/api/enrichment/bounces",
        {"email": "jsmith@acme.example", "reason": "550 5.1.1"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert ContactEmail.objects.get().verification_status == "invalid"
    missing = alice_client.post(
        "/api/enrichment/bounces", {"email": "x@acme.example"}, content_type="application/json"
    )
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_admin_shows_the_breakdown_and_records_bounces(alice_client, zone):
    email = _known("John", "Smith", "jsmith@acme.example")
    email.score_breakdown = [{"name": "mx", "points": 10, "detail": "MX records present"}]
    email.save()
    page = alice_client.get(f"/admin/contacts/contactemail/{email.pk}/change/").content.decode()
    assert "MX records present" in page
    alice_client.post(
        "/admin/contacts/contactemail/", {"action": "record_bounce", "_selected_action": [email.pk]}
    )
    email.refresh_from_db()
    assert email.bounced_at is not None


def test_the_job_task_processes_every_row_once(zone, django_capture_on_commit_callbacks):
    job = job_create(
        rows=[{"name": "Jane Doe", "domain": "acme.example"}, {"name": "", "domain": "x"}],
        mapping={"full_name": "name", "domain": "domain"},
        name="api rows",
    )
    outcome = tasks.process_job.apply(args=[job.pk]).get()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert (job.processed_items, job.succeeded_items, job.failed_items) == (2, 1, 0)
    skipped = job.items.get(index=1)
    assert skipped.status == "skipped"
    assert skipped.error.startswith("no name")
    assert outcome["processed"] == 2
    # Running it again changes nothing: every item is done.
    assert tasks.process_job.apply(args=[job.pk]).get()["processed"] == 0
    assert EnrichmentJob.objects.get().contacts.count() == 1


def test_greylisted_probes_are_retried_later_with_a_countdown(
    zone, smtp_server, settings, monkeypatch, django_capture_on_commit_callbacks
):
    smtp = smtp_server(Greylist(KnownMailboxes({"jane@acme.example"})))
    settings.ENRICH_SMTP_PORT = smtp.port
    email = _known("Jane", "Doe", "jane@acme.example")
    queued = []
    monkeypatch.setattr(
        tasks.verify_contact_emails,
        "apply_async",
        lambda args, kwargs, countdown: queued.append((args, kwargs, countdown)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.verify_contact_emails.apply(args=[[email.pk]], kwargs={"smtp": True}).get()
    assert result["greylisted"] == 1
    assert queued == [(([email.pk],), {"smtp": True, "attempt": 1}, queued[0][2])]
    assert queued[0][2] >= 300  # minutes later, not a busy loop
    email.refresh_from_db()
    assert email.verification_status != "invalid"


def test_re_verifying_a_guess_keeps_its_pattern_evidence(zone):
    # Two known addresses teach the domain "flast"; a guess in that pattern is re-checked.
    _known("John", "Smith", "jsmith@acme.example")
    _known("Mary", "Major", "mmajor@acme.example")
    contact = EnrichedContactFactory(first_name="Jane", last_name="Doe", domain="acme.example")
    guess = ContactEmailFactory(
        contact=contact,
        email="jdoe@acme.example",
        generation_method=GenerationMethod.PATTERN_DETECTION,
        pattern="flast",
    )
    unrelated = _known("Ann", "Lee", "ann.lee@acme.example")  # imported: no pattern evidence

    tasks.verify_contact_emails.apply(args=[[guess.pk, unrelated.pk]]).get()

    guess.refresh_from_db()
    unrelated.refresh_from_db()
    factors = {f["name"]: f for f in guess.score_breakdown}
    assert "learned at this domain" in factors["pattern"]["detail"]
    assert factors["pattern_support"]["detail"].startswith("2 known addresses")
    assert sum(f["points"] for f in guess.score_breakdown) == guess.verification_score
    assert factors["mx"]["detail"] == "MX records present"  # and the fresh check is there too
    others = {f["name"]: f for f in unrelated.score_breakdown}
    assert others["pattern"]["detail"] == "not guessed from a pattern"


def test_a_re_verified_guess_is_not_evidence_for_itself(zone):
    # Once verified, a guess counts as known for other names; not for its own re-check.
    contact = EnrichedContactFactory(first_name="Jane", last_name="Doe", domain="acme.example")
    guess = ContactEmailFactory(
        contact=contact,
        email="jdoe@acme.example",
        generation_method=GenerationMethod.PATTERN_DETECTION,
        pattern="flast",
        verification_status="verified",
    )

    tasks.verify_contact_emails.apply(args=[[guess.pk]]).get()

    guess.refresh_from_db()
    factors = {f["name"]: f for f in guess.score_breakdown}
    assert "learned at this domain" not in factors["pattern"]["detail"]
    assert "pattern_support" not in factors or factors["pattern_support"]["points"] == 0
