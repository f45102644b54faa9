"""Ledger rows get a unique ``call_id`` (buffered rows may be drained twice) and lose the indexes
no query uses: ``provider_id`` alone (the composite indexes start with it) and the
``varchar_pattern_ops`` copy of ``input_fingerprint`` (a sha256 is never searched by prefix)."""

import uuid

from django.db import migrations, models


def give_existing_rows_an_id(apps, schema_editor):
    ProviderCall = apps.get_model("providers", "ProviderCall")
    batch = []
    for row in ProviderCall.objects.filter(call_id__isnull=True).only("pk").iterator():
        row.call_id = uuid.uuid4()
        batch.append(row)
        if len(batch) >= 1000:
            ProviderCall.objects.bulk_update(batch, ["call_id"])
            batch.clear()
    ProviderCall.objects.bulk_update(batch, ["call_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0002_phonereveal"),
    ]

    operations = [
        migrations.AddField(
            model_name="providercall",
            name="call_id",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(give_existing_rows_an_id, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="providercall",
            name="call_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
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
