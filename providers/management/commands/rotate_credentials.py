"""Re-encrypt every stored credential under the primary FIELD_ENCRYPTION_KEY."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config import crypto
from providers.models import Provider


class Command(BaseCommand):
    help = (
        "Re-encrypt provider credentials with the first key of FIELD_ENCRYPTION_KEY. Run after "
        "prepending a new key; afterwards the old key can be removed."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        rotated = 0
        for provider in Provider.objects.select_for_update().exclude(credentials_encrypted=""):
            try:
                provider.credentials_encrypted = crypto.rotate(provider.credentials_encrypted)
            except crypto.DecryptionError as exc:
                raise CommandError(f"{provider.slug}: {exc}; nothing was changed") from None
            provider.save(update_fields=["credentials_encrypted", "updated_at"])
            rotated += 1
        self.stdout.write(f"re-encrypted credentials of {rotated} provider(s)")
