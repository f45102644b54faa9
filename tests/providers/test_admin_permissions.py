"""Admin actions that spend money or change records need the change permission, not only view."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from contacts.models import VerificationStatus
from providers.models import ProviderCall
from tests.factories import ContactEmailFactory, EnrichedContactFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(django_user_model):
    """erin: staff who may view providers and contact emails, and change neither."""
    erin = django_user_model.objects.create_user("erin", "erin@example.org", "erin-pw")
    erin.is_staff = True
    erin.save()
    erin.user_permissions.add(
        Permission.objects.get(codename="view_provider"),
        Permission.objects.get(codename="view_contactemail"),
    )
    client = Client()  # not the shared `client` fixture, which alice_client logs in
    client.force_login(erin)
    return client


def test_view_only_staff_cannot_run_a_paid_connection_test(viewer_client, alice_client):
    provider = ProviderFactory(slug="sandbox", adapter="sandbox")
    action = {"action": "test_connection", "_selected_action": [provider.pk]}

    response = viewer_client.post("/admin/providers/provider/", action, follow=True)
    assert response.status_code == 200
    assert not ProviderCall.objects.exists()
    assert b"test_connection" not in viewer_client.get("/admin/providers/provider/").content

    alice_client.post("/admin/providers/provider/", action, follow=True)
    assert ProviderCall.objects.filter(provider=provider).exists()


def test_view_only_staff_cannot_record_a_bounce(viewer_client):
    email = ContactEmailFactory(contact=EnrichedContactFactory(), email="jane@acme.example")
    response = viewer_client.post(
        "/admin/contacts/contactemail/",
        {"action": "record_bounce", "_selected_action": [email.pk]},
        follow=True,
    )
    assert response.status_code == 200
    email.refresh_from_db()
    assert email.verification_status != VerificationStatus.INVALID
    assert email.bounced_at is None
