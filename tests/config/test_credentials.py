"""Provider credentials: encrypted at rest, rotatable, never shown back."""

import logging

import pytest
from cryptography.fernet import Fernet

from config import crypto
from config.crypto import DecryptionError
from tests.factories import ProviderFactory

PLAIN_KEY = "hunter-live-key-5f3a9c1e77"


@pytest.fixture
def two_keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    return old, new


def test_it_stores_ciphertext_not_the_plain_key(two_keys):
    provider = ProviderFactory.build(slug="hunter")
    provider.set_credentials({"api_key": PLAIN_KEY})
    assert PLAIN_KEY not in provider.credentials_encrypted
    assert provider.get_credentials() == {"api_key": PLAIN_KEY}


def test_a_rotated_key_still_decrypts_and_rotation_moves_to_the_new_key(settings, two_keys):
    old, new = two_keys
    provider = ProviderFactory.build(slug="hunter")
    provider.set_credentials({"api_key": PLAIN_KEY})
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert provider.get_credentials() == {"api_key": PLAIN_KEY}
    rotated = crypto.rotate(provider.credentials_encrypted)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt_json(rotated) == {"api_key": PLAIN_KEY}
    with pytest.raises(DecryptionError):
        crypto.decrypt_json(provider.credentials_encrypted)


@pytest.mark.django_db
def test_the_admin_never_shows_the_clear_key(alice_client):
    provider = ProviderFactory(slug="hunter", adapter="hunter")
    provider.set_credentials({"api_key": PLAIN_KEY})
    provider.save()
    for url in (
        f"/admin/providers/provider/{provider.pk}/change/",
        "/admin/providers/provider/",
    ):
        response = alice_client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        assert PLAIN_KEY not in body
        assert provider.credentials_encrypted not in body
    assert (
        "api_key: ••••••"
        in alice_client.get(f"/admin/providers/provider/{provider.pk}/change/").content.decode()
    )


@pytest.mark.django_db
def test_the_admin_sets_credentials_write_only(alice_client):
    provider = ProviderFactory(slug="apollo", adapter="apollo")
    url = f"/admin/providers/provider/{provider.pk}/change/"
    form = alice_client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(
        {
            "timeout_seconds": "15",
            "price_per_call": "0.01",
            "operation_prices": "{}",
            "config": "{}",
            "new_credentials": f'{{"api_key": "{PLAIN_KEY}"}}',
        }
    )
    response = alice_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    provider.refresh_from_db()
    assert provider.get_credentials() == {"api_key": PLAIN_KEY}
    # Re-saving without new credentials keeps them.
    data["new_credentials"] = ""
    alice_client.post(url, data)
    provider.refresh_from_db()
    assert provider.get_credentials() == {"api_key": PLAIN_KEY}


def test_the_log_filter_redacts_a_decrypted_key(caplog):
    from config.logging import RedactSecretsFilter, register_secret

    register_secret(PLAIN_KEY)
    logger = logging.getLogger("tests.credentials")
    handler_filter = RedactSecretsFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        logger.warning("provider rejected key %s", PLAIN_KEY)
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert PLAIN_KEY not in caplog.text
    assert "[REDACTED]" in caplog.text


@pytest.mark.django_db
def test_rotate_credentials_moves_every_provider_to_the_new_key(settings, two_keys):
    from django.core.management import call_command

    old, new = two_keys
    provider = ProviderFactory(slug="pdl", adapter="pdl")
    provider.set_credentials({"api_key": PLAIN_KEY})
    provider.save()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_credentials", verbosity=0)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    provider.refresh_from_db()
    assert provider.get_credentials() == {"api_key": PLAIN_KEY}
