"""Fill the match keys of contacts stored before 0003 (its own migration: PostgreSQL refuses
schema changes in a transaction that has already updated rows with deferred checks pending)."""

from django.db import migrations

from contacts.matching import match_keys


def fill_match_keys(apps, schema_editor):
    """Give contacts stored before this migration their match keys."""
    EnrichedContact = apps.get_model("contacts", "EnrichedContact")
    batch = []
    rows = EnrichedContact.objects.only("first_name", "last_name", "domain", "linkedin_url")
    for contact in rows.iterator(chunk_size=2000):
        keys = match_keys(
            linkedin_url=contact.linkedin_url,
            first_name=contact.first_name,
            last_name=contact.last_name,
            domain=contact.domain,
        )
        contact.name_key, contact.linkedin_key = keys.name, keys.linkedin
        batch.append(contact)
        if len(batch) >= 2000:
            EnrichedContact.objects.bulk_update(batch, ["name_key", "linkedin_key"])
            batch = []
    if batch:
        EnrichedContact.objects.bulk_update(batch, ["name_key", "linkedin_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0003_match_keys_and_quality"),
    ]

    operations = [
        migrations.RunPython(fill_match_keys, migrations.RunPython.noop),
    ]
