"""What a job item found, put on its contact: the person matched (same email, LinkedIn profile,
or name at the domain) or created awaiting review, each value normalised and kept with its
source, confidence and when it was found; the quality score recomputed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers

from contacts.matching import linkedin_key
from contacts.models import ContactActivity, ContactEmail, EnrichedContact
from contacts.selectors import contact_find_match
from contacts.services import contact_quality_refresh
from enrichment.batch import Lead, display_names, field_value
from enrichment.fields import CANONICAL_FIELDS
from enrichment.models import EnrichmentJob
from enrichment.services import _contact_for, _email_for

#: Contact columns filled from canonical fields a provider (or the row) gave.
CONTACT_COLUMNS = {
    "title": "title",
    "seniority": "seniority",
    "department": "department",
    "company_name": "company",
    "phone": "phone",
    "mobile_phone": "mobile_phone",
    "city": "city",
    "state": "state",
    "linkedin_url": "linkedin_url",
}
#: Canonical fields kept on the contact with their source (names, email and domain have
#: their own handling).
KEPT_FIELDS = tuple(
    f
    for f in CANONICAL_FIELDS
    if f not in {"first_name", "last_name", "full_name", "email", "domain"}
)


def normalise_value(name: str, value: Any, region: str | None = None) -> str | None:
    """A canonical field's value as stored: phones in E.164 where they parse, LinkedIn
    profiles as one https URL form; ``None`` for a value that cannot be one."""
    text = (
        " ".join(str(value).split()) if not isinstance(value, list) else ", ".join(map(str, value))
    )
    if name in {"phone", "mobile_phone"}:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return text
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return text
    if name in {"linkedin_url", "company_linkedin_url"}:
        key = linkedin_key(text) if name == "linkedin_url" else ""
        if key:
            return f"https://www.{key}"
        return text if text.startswith("https://") else None
    return text or None


def contact_store_result(
    *, job: EnrichmentJob, lead: Lead, mapping: Mapping[str, str], now: Any
) -> tuple[EnrichedContact, dict[int, int]]:
    """Put what the lead's row and its providers said on its contact (matched, or created
    awaiting review); returns the contact and the greylisted address to probe again, if any."""
    result = lead.result
    email = (result.get("email") or lead.email or "").lower()
    contact = _contact_match(lead, mapping, email)
    created = contact is None
    if created:
        contact = _contact_for(lead, mapping, job, job.project)
        contact.save()
        ContactActivity.objects.create(
            contact=contact,
            contact_ref=str(contact.pk),
            action="discovered",
            actor=job.created_by,
            detail={"job": job.pk, "via": job.job_type},
        )
    sources = dict(contact.field_sources or {})
    changed: set[str] = set()
    region = (field_value(lead.row, mapping, "country") or "")[:2].upper() or None
    for name in KEPT_FIELDS:
        raw = result.get(name) or field_value(lead.row, mapping, name)
        found = (result.get("field_sources") or {}).get(name)
        given = sources.get(name, {})
        if not raw or (found is None and given.get("source") not in (None, "input")):
            continue  # nothing to say, or a provider's value the row must not replace
        value = normalise_value(name, raw, region)
        if value is None:
            continue
        column = CONTACT_COLUMNS.get(name)
        if column is not None:
            value = value[: EnrichedContact._meta.get_field(column).max_length]
            if getattr(contact, column) != value:
                setattr(contact, column, value)
                changed.add(column)
        source = found["source"] if found else "input"
        same = given.get("value") == value and given.get("source") == source
        sources[name] = {
            "value": value,
            "source": source,
            "confidence": found["confidence"] if found else 100,
            "found_at": given["found_at"] if same and "found_at" in given else now.isoformat(),
        }
    greylisted: dict[int, int] = {}
    if result.get("email") and result.get("email_status"):
        stored = _email_store(contact, result, now)
        found = result.get("found")
        if found is not None and getattr(found, "retry_after", None):
            greylisted[stored.pk] = found.retry_after
        given = sources.get("email", {})
        sources["email"] = {
            "value": result["email"],
            "source": result.get("email_source") or "",
            "confidence": int(result.get("email_confidence") or 0),
            "found_at": given.get("found_at", now.isoformat())
            if given.get("value") == result["email"]
            else now.isoformat(),
        }
        contact.confidence_score = int(result.get("email_confidence") or 0)
        changed.add("confidence_score")
    if sources != contact.field_sources:
        contact.field_sources = sources
        changed.add("field_sources")
    contact.enriched_at = now
    changed.add("enriched_at")
    if changed and not created:
        contact.save(update_fields=[*changed, "updated_at"])
    elif changed:
        contact.save()
    if changed or created:
        contact_quality_refresh(contact=contact)
    return contact, greylisted


def _contact_match(lead: Lead, mapping: Mapping[str, str], email: str) -> EnrichedContact | None:
    """The stored contact for this person: same email, same LinkedIn profile, or the same
    name at the same domain (contacts.selectors)."""
    first, last = display_names(lead.row, mapping)
    return contact_find_match(
        email=email or None,
        linkedin_url=field_value(lead.row, mapping, "linkedin_url") or None,
        first_name=first or (lead.parsed.first if lead.parsed else None),
        last_name=last or (lead.parsed.last if lead.parsed else None),
        domain=lead.domain or None,
    )


def _email_store(contact: EnrichedContact, result: Mapping[str, Any], now: Any) -> ContactEmail:
    fresh = _email_for(contact, dict(result), now)
    existing = ContactEmail.objects.filter(contact=contact, email__iexact=fresh.email).first()
    if existing is None:
        fresh.is_primary = not contact.emails.filter(is_primary=True).exists()
        if result.get("email_source") not in ("input", "pattern", "pattern+smtp"):
            fresh.api_source = str(result.get("email_source"))[:64]
        fresh.save()
        return fresh
    for name in (
        "verification_status",
        "verification_score",
        "verification_method",
        "score_breakdown",
        "mx_check_passed",
        "mx_host",
        "catch_all",
        "last_checked_at",
    ):
        setattr(existing, name, getattr(fresh, name))
    existing.save()
    return existing
