"""State changes of contacts, shared by the job engine, the admin, views and commands."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from contacts.models import EnrichedContact
from enrichment.quality import QualityReport, assess

# Canonical field → the EnrichedContact column holding it. Canonical fields without a column
# (company_size, industry...) are read from ``field_sources[field]["value"]`` when the
# enrichment stored one there.
_COLUMNS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "title": "title",
    "seniority": "seniority",
    "department": "department",
    "company_name": "company",
    "domain": "domain",
    "linkedin_url": "linkedin_url",
    "phone": "phone",
    "mobile_phone": "mobile_phone",
    "city": "city",
    "state": "state",
    "country": "country",
}


def _quality_inputs(contact: EnrichedContact) -> tuple[dict, dict]:
    """(canonical values, per-field evidence) of a stored contact."""
    sources = contact.field_sources if isinstance(contact.field_sources, dict) else {}
    values: dict[str, object] = {f: getattr(contact, column) for f, column in _COLUMNS.items()}
    for field, entry in sources.items():
        if field not in values and isinstance(entry, dict) and entry.get("value") not in (None, ""):
            values[field] = entry["value"]
    evidence = {f: e for f, e in sources.items() if isinstance(e, dict)}

    # .all() so a prefetched list is used; the ordering puts the primary, best-scored first.
    email = next(iter(contact.emails.all()), None)
    if email is not None:
        values["email"] = email.email
        evidence.setdefault(
            "email",
            {
                "source": email.api_source or email.generation_method,
                "confidence": email.verification_score,
                "found_at": email.last_checked_at or email.created_at,
            },
        )
    # A value with no evidence of its own was found when the contact was.
    for field, value in values.items():
        if value and field not in evidence:
            evidence[field] = {"source": contact.source, "found_at": contact.discovered_at}
    return values, evidence


@transaction.atomic
def contact_quality_refresh(*, contact: EnrichedContact) -> QualityReport:
    """Score the contact's data quality (``enrichment.quality``) and store the score and
    each dimension's and rule's result on it."""
    values, evidence = _quality_inputs(contact)
    now = timezone.now()
    report = assess(values, evidence, now=now)
    contact.quality_score = report.score
    contact.quality_checks = {**report.as_dict(), "computed_at": now.isoformat()}
    contact.save(update_fields=["quality_score", "quality_checks", "updated_at"])
    return report
