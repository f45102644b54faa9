"""Provider admin: health from the ledger, a connection test action, generic config checks."""

import pytest

from providers.models import CallStatus, ProviderCall
from tests.factories import ProviderFactory

pytestmark = pytest.mark.django_db


def test_the_changelist_shows_health_from_the_ledger(alice_client):
    provider = ProviderFactory(slug="hunter", adapter="hunter")
    for latency in (100, 200, 300):
        ProviderCall.objects.create(
            provider=provider,
            operation="find_email",
            input_fingerprint="f" * 64,
            status=CallStatus.SUCCESS,
            latency_ms=latency,
        )
    ProviderCall.objects.create(
        provider=provider,
        operation="find_email",
        input_fingerprint="f" * 64,
        status=CallStatus.ERROR,
        error_code="server_error",
        latency_ms=50,
    )
    body = alice_client.get("/admin/providers/provider/").content.decode()
    assert "4 calls, 75% ok" in body


def test_a_fingerprint_search_in_the_call_ledger_is_exact(alice_client):
    provider = ProviderFactory(slug="hunter", adapter="hunter")
    for fingerprint in ("a" * 64, "a" * 63 + "b"):
        ProviderCall.objects.create(
            provider=provider,
            operation="find_email",
            input_fingerprint=fingerprint,
            status=CallStatus.SUCCESS,
        )

    response = alice_client.get("/admin/providers/providercall/", {"q": "A" * 64})

    assert [call.input_fingerprint for call in response.context["cl"].result_list] == ["a" * 64]


def test_the_test_connection_action_reports_each_provider(alice_client):
    provider = ProviderFactory(slug="sandbox", adapter="sandbox")
    response = alice_client.post(
        "/admin/providers/provider/",
        {"action": "test_connection", "_selected_action": [provider.pk]},
        follow=True,
    )
    text = " ".join(str(m) for m in response.context["messages"])
    assert "sandbox find_email: found" in text


def test_a_generic_provider_with_a_broken_config_is_refused(alice_client):
    data = {
        "slug": "acme-api",
        "name": "Acme API",
        "kind": "generic",
        "adapter": "generic",
        "base_url": "https://api.acme.example",
        "enabled": "on",
        "priority": "100",
        "concurrency": "4",
        "timeout_seconds": "10",
        "price_per_call": "0.01",
        "operation_prices": "{}",
        "config": '{"operations": {"find_email": {"method": "GET"}}}',
    }
    response = alice_client.post("/admin/providers/provider/add/", data)
    assert response.status_code == 200  # the form came back with errors
    assert response.context["adminform"].form.errors["config"]


def test_a_pending_call_can_be_marked_abandoned_so_it_may_be_sent_again(alice_client):
    provider = ProviderFactory(slug="apollo", adapter="apollo")
    pending = ProviderCall.objects.create(
        provider=provider,
        operation="find_phone",
        input_fingerprint="c" * 64,
        status=CallStatus.PENDING,
    )

    alice_client.post(
        "/admin/providers/providercall/",
        {"action": "mark_abandoned", "_selected_action": [pending.pk]},
    )

    pending.refresh_from_db()
    assert (pending.status, pending.error_code) == (CallStatus.ERROR, "abandoned")


def test_view_only_staff_cannot_mark_calls_abandoned(client, bob):
    from django.contrib.auth.models import Permission

    bob.user_permissions.add(Permission.objects.get(codename="view_providercall"))
    client.force_login(bob)
    provider = ProviderFactory(slug="apollo", adapter="apollo")
    pending = ProviderCall.objects.create(
        provider=provider, operation="find_phone", input_fingerprint="c" * 64, status="pending"
    )

    client.post(
        "/admin/providers/providercall/",
        {"action": "mark_abandoned", "_selected_action": [pending.pk]},
    )

    pending.refresh_from_db()
    assert pending.status == CallStatus.PENDING
