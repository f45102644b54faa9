"""Stored keys stay with their host, and never come back out of a provider's answer.

Changing where a provider's requests go (its base URL, in the admin or through `providers
import`) removes the stored credentials; a provider that echoes the key, in any letter case,
has it masked in every field of the result before anything stores it.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command

from providers.client import call_provider
from providers.models import Provider, ProviderAnswer
from tests.factories import ProviderFactory
from tests.providers.conftest import fixture_bytes

pytestmark = pytest.mark.django_db

KEY = "sk_live_Key_4f3e2d1c0b9a"


def _hunter(**changes) -> Provider:
    provider = ProviderFactory(
        slug="hunter", adapter="hunter", base_url="https://api.hunter.io/v2", **changes
    )
    provider.set_credentials({"api_key": KEY})
    provider.save()
    return provider


def _change_form(provider: Provider, **changes) -> dict:
    data = {
        "slug": provider.slug,
        "name": provider.name,
        "kind": provider.kind,
        "adapter": provider.adapter,
        "base_url": provider.base_url,
        "enabled": "on",
        "priority": provider.priority,
        "rate_limit_per_minute": provider.rate_limit_per_minute or "",
        "concurrency": provider.concurrency,
        "daily_quota": provider.daily_quota or "",
        "timeout_seconds": provider.timeout_seconds,
        "cache_ttl_days": provider.cache_ttl_days or "",
        "price_per_call": provider.price_per_call,
        "operation_prices": json.dumps(provider.operation_prices),
        "config": json.dumps(provider.config),
        "new_credentials": "",
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_the_admin_removes_the_key_when_the_base_url_moves_to_another_host(alice_client):
    provider = _hunter()
    url = f"/admin/providers/provider/{provider.pk}/change/"
    response = alice_client.post(url, _change_form(provider, base_url="https://evil.example/v2"))
    assert response.status_code == 302, response.content.decode()[:2000]
    provider.refresh_from_db()
    assert provider.base_url == "https://evil.example/v2"
    assert not provider.has_credentials
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("stored credentials removed" in m for m in messages), messages


def test_the_admin_keeps_the_key_on_the_same_host_or_with_new_credentials(alice_client):
    provider = _hunter()
    url = f"/admin/providers/provider/{provider.pk}/change/"
    alice_client.post(url, _change_form(provider, base_url="https://api.hunter.io/v3"))
    provider.refresh_from_db()
    assert provider.get_credentials() == {"api_key": KEY}

    alice_client.post(
        url,
        _change_form(
            provider,
            base_url="https://hunter.example/v2",
            new_credentials=json.dumps({"api_key": "other-key-1234"}),
        ),
    )
    provider.refresh_from_db()
    assert provider.get_credentials() == {"api_key": "other-key-1234"}


def test_import_removes_the_key_when_the_base_url_moves_to_another_host(tmp_path):
    provider = _hunter()
    export = tmp_path / "providers.json"
    call_command("providers", "export", str(export), stdout=StringIO())
    data = json.loads(export.read_text())
    data["providers"][0]["base_url"] = "https://evil.example/v2"
    export.write_text(json.dumps(data))

    out = StringIO()
    call_command("providers", "import", str(export), stdout=out)
    provider.refresh_from_db()
    assert provider.base_url == "https://evil.example/v2"
    assert not provider.has_credentials
    assert "provider 'hunter': stored credentials removed" in out.getvalue()


def test_import_keeps_the_key_when_the_host_stays(tmp_path):
    provider = _hunter()
    export = tmp_path / "providers.json"
    call_command("providers", "export", str(export), stdout=StringIO())
    out = StringIO()
    call_command("providers", "import", str(export), stdout=out)
    provider.refresh_from_db()
    assert provider.get_credentials() == {"api_key": KEY}
    assert "removed" not in out.getvalue()


@pytest.mark.integration
def test_a_key_echoed_in_another_letter_case_is_masked_everywhere(httpserver):
    echoed = KEY.swapcase()
    answer = json.loads(fixture_bytes("hunter", "email_finder.json"))
    answer["data"]["position"] = f"Cofounder (key {echoed})"
    answer["meta"]["params"]["api_key"] = KEY.upper()
    answer["meta"]["echo"] = {echoed: f"called with {KEY.lower()}"}
    httpserver.expect_request("/v2/email-finder").respond_with_json(answer)
    provider = ProviderFactory(slug="hunter", adapter="hunter", base_url=httpserver.url_for("/v2"))
    provider.set_credentials({"api_key": KEY})
    provider.save()
    inputs = {"first_name": "Alexis", "last_name": "Ohanian", "domain": "reddit.com"}

    first = call_provider(provider, "find_email", inputs)
    again = call_provider(provider, "find_email", inputs)

    assert len(httpserver.log) == 1  # the second answer is the stored one
    for result in (first, again):
        dumped = json.dumps(
            {
                "fields": {k: v.value for k, v in result.fields.items()},
                "raw": result.raw,
                "extra": result.extra,
            }
        ).lower()
        assert KEY.lower() not in dumped
        assert result.value("email") == "alexis@reddit.com"
        assert result.value("title") == "Cofounder (key [REDACTED])"
    stored = json.dumps(ProviderAnswer.objects.get(provider=provider).result).lower()
    assert "alexis@reddit.com" in stored
    assert KEY.lower() not in stored
