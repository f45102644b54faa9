"""Every way in checks who is asking: the review page, the bounce API, a job's live channel.

charlie has an account but no staff rights; bob is staff with no permissions; dave is staff who
may view contacts and jobs; alice is the superuser.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.asgi import application
from contacts.models import ContactEmail, VerificationStatus
from enrichment.models import EnrichmentJob, JobType
from tests.factories import ContactEmailFactory, EnrichedContactFactory


@pytest.fixture
def dave(django_user_model):
    user = django_user_model.objects.create_user("dave", "dave@example.org", "dave-pw")
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        Permission.objects.get(codename="view_enrichedcontact"),
        Permission.objects.get(codename="view_enrichmentjob"),
    )
    return user


@pytest.mark.django_db
def test_it_hides_the_review_page_from_a_logged_in_outsider(client, charlie, bob, dave):
    EnrichedContactFactory(first_name="Secret", last_name="Person")
    for outsider in (charlie, bob):
        client.force_login(outsider)
        response = client.get("/")
        assert response.status_code == 403
        assert b"Secret" not in response.content
    client.force_login(dave)
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_it_refuses_bounces_from_a_non_staff_token(charlie, alice):
    contact = EnrichedContactFactory(domain="acme.example")
    stored = ContactEmailFactory(contact=contact, email="jane@acme.example")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=charlie).key}")
    response = api.post("/api/enrichment/bounces", {"email": "jane@acme.example"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    stored.refresh_from_db()
    assert stored.verification_status != VerificationStatus.INVALID
    assert not ContactEmail.objects.filter(bounced_at__isnull=False).exists()


def _connect(client, user, job_id: int) -> tuple[bool, int | None]:
    """Open ``ws/jobs/<id>/`` through the real ASGI application with ``user``'s session."""
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def attempt():
        communicator = WebsocketCommunicator(
            application,
            f"/ws/jobs/{job_id}/",
            headers=[(b"cookie", cookie.encode()), (b"origin", b"http://localhost")],
        )
        connected, code = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected, code

    # async_to_sync runs the consumer's database work on this thread, with its connection.
    return async_to_sync(attempt)()


@pytest.mark.django_db(transaction=True)
def test_a_jobs_live_channel_is_only_for_who_may_see_the_job(client, charlie, bob, dave):
    job = EnrichmentJob.objects.create(job_type=JobType.BULK, created_by=bob)
    assert _connect(client, charlie, job.pk) == (False, 4404)
    assert _connect(client, bob, job.pk)[0] is True  # its creator
    assert _connect(client, dave, job.pk)[0] is True  # staff who may view jobs
