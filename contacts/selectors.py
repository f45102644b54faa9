"""Reads of contacts shared by the job engine, views and commands."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, Value, When
from django.db.models.functions import Lower

from contacts.matching import match_keys
from contacts.models import ContactEmail, EnrichedContact


def contact_find_match(
    *,
    email: str | None = None,
    linkedin_url: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    full_name: str | None = None,
    domain: str | None = None,
) -> EnrichedContact | None:
    """The stored contact that is this person, or None.

    Tried in order: the same email (any of a contact's ``ContactEmail`` addresses, compared
    case-insensitively), the same LinkedIn profile, the same folded name at the same domain
    (``contacts.matching`` says what counts as the same; a full name of three or more words
    is looked up in both its readings, middle name first). When several contacts share the
    winning key, the oldest is the person's contact. Review status is not considered: a
    rejected contact is still that person. At most two indexed queries.
    """
    keys = match_keys(
        email=email,
        linkedin_url=linkedin_url,
        first_name=first_name,
        last_name=last_name,
        full_name=full_name,
        domain=domain,
    )
    if keys.email:
        owners = (
            ContactEmail.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower=keys.email)
            .values("contact_id")
        )
        found = EnrichedContact.objects.filter(pk__in=owners).order_by("pk").first()
        if found is not None:
            return found
    # One query over the indexed keys (PostgreSQL ORs the index scans). A profile URL names
    # one person, a name at a company may not, so the LinkedIn match ranks first; then the
    # usual reading of the name, then the other reading of a longer full name.
    ranks = []
    if keys.linkedin:
        ranks.append((Q(linkedin_key=keys.linkedin), 1))
    if keys.name:
        ranks.append((Q(name_key=keys.name), 2))
    if keys.other_names:
        ranks.append((Q(name_key__in=keys.other_names), 3))
    if not ranks:
        return None
    condition = Q()
    for q, _ in ranks:
        condition |= q
    return (
        EnrichedContact.objects.filter(condition)
        .annotate(
            match_rank=Case(
                *(When(q, then=Value(rank)) for q, rank in ranks), output_field=IntegerField()
            )
        )
        .order_by("match_rank", "pk")
        .first()
    )
