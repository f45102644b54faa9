"""Encryption of secrets at rest (provider credentials).

Fernet tokens under a MultiFernet built from ``settings.FIELD_ENCRYPTION_KEYS``: the first
key encrypts, every key decrypts, so a key is rotated by prepending a new one and running
``manage.py rotate_credentials`` to re-encrypt what was stored under the old one.
"""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """Stored ciphertext cannot be read with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        # Never echo the key material itself.
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be comma-separated url-safe base64 Fernet keys"
        ) from exc


def get_fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_json(value: dict) -> str:
    return get_fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(get_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise DecryptionError("credentials cannot be decrypted with FIELD_ENCRYPTION_KEY") from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the primary key (no-op for empty values)."""
    if not token:
        return token
    try:
        return get_fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("credentials cannot be decrypted with FIELD_ENCRYPTION_KEY") from exc
