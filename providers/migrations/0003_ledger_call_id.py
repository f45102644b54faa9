"""Ledger rows get a unique ``call_id`` (buffered rows may be drained twice) and lose the indexes
no query uses: ``provider_id`` alone (the composite indexes start with it) and the
``varchar_pattern_ops`` copy of ``input_fingerprint`` (a sha256 is never searched by prefix)."""

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0002_phonereveal"),
    ]

    operations = [
        # Nullable and without a backfill: existing rows keep NULL, and code that does not
        # know the column yet (a release still running during the deploy) can still insert.
        # Added without its default, which AddField would write (one value) into every row.
        migrations.AddField(
            model_name="providercall",
            name="call_id",
            field=models.UUIDField(editable=False, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="providercall",
            name="call_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="providercall",
            name="provider",
            field=models.ForeignKey(
                db_index=False,
                on_delete=models.deletion.PROTECT,
                related_name="calls",
                to="providers.provider",
            ),
        ),
        migrations.AlterField(
            model_name="providercall",
            name="input_fingerprint",
            field=models.CharField(max_length=64),
        ),
        migrations.AddIndex(
            model_name="providercall",
            index=models.Index(fields=["input_fingerprint"], name="providercall_fingerprint"),
        ),
    ]
