"""SMTP probing requested over the API: guarded like HTTP, narrowed by the setting, limited.

An attacker with any API token owns a domain whose MX points at 127.0.0.1 (here a loopback DNS
server says so) and asks the server to verify an address there with ``"smtp": true``.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.support.dns_server import mail_zone
from tests.support.smtp_server import AcceptAll

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def charlie_api(charlie):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=charlie).key}")
    return client


@pytest.fixture
def loopback_mx(dns_server, smtp_server, settings):
    """evil.example's MX resolves to 127.0.0.1, where an SMTP server counts connections."""
    smtp = smtp_server(AcceptAll())
    dns = dns_server(mail_zone("evil.example"))
    settings.ENRICH_DNS_NAMESERVERS = [dns.nameserver]
    settings.ENRICH_OFFLINE = False
    settings.ENRICH_SMTP_PORT = smtp.port
    settings.ENRICH_SMTP_PROBE = True
    settings.ENRICH_ALLOW_PRIVATE_NETWORKS = False
    cache.clear()
    yield smtp
    cache.clear()


def _verify(client, **extra):
    return client.post(
        "/api/enrichment/emails/verify",
        {"email": "anyone@evil.example", "smtp": True, **extra},
        format="json",
    )


def test_it_never_connects_to_a_loopback_mx(charlie_api, loopback_mx):
    response = _verify(charlie_api)
    assert response.status_code == 200, response.content
    assert loopback_mx.connections == 0
    assert response.json()["status"] != "verified"


def test_it_probes_the_same_mx_when_private_networks_are_allowed(
    charlie_api, loopback_mx, settings
):
    settings.ENRICH_ALLOW_PRIVATE_NETWORKS = True
    assert _verify(charlie_api).status_code == 200
    assert loopback_mx.connections == 1


def test_it_never_connects_to_a_loopback_mx_from_the_finder(charlie_api, loopback_mx):
    response = charlie_api.post(
        "/api/enrichment/emails/find",
        {"full_name": "Jane Doe", "domain": "evil.example", "smtp": True},
        format="json",
    )
    assert response.status_code in (200, 422), response.content
    assert loopback_mx.connections == 0


def test_the_smtp_flag_cannot_turn_probing_on(charlie_api, loopback_mx, settings):
    settings.ENRICH_ALLOW_PRIVATE_NETWORKS = True
    settings.ENRICH_SMTP_PROBE = False
    assert _verify(charlie_api).status_code == 200
    assert loopback_mx.connections == 0


def test_probing_requests_are_limited_per_user(charlie_api, loopback_mx, settings, bob):
    settings.ENRICH_SMTP_PROBE_RATE = "2/hour"
    assert [_verify(charlie_api).status_code for _ in range(2)] == [200, 200]
    refused = _verify(charlie_api)
    assert refused.status_code == 429
    assert refused.json()["error"] == "throttled"
    # Requests that do not probe, and other users, are not held back.
    assert _verify(charlie_api, smtp=False).status_code == 200
    bob_api = APIClient()
    bob_api.force_authenticate(bob)
    assert _verify(bob_api).status_code == 200
