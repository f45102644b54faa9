"""contact_quality_refresh on stored contacts, and the score where users see it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import EnrichedContact
from contacts.services import contact_quality_refresh
from tests.factories import ContactEmailFactory, EnrichedContactFactory

pytestmark = pytest.mark.django_db


def _contact(**values) -> EnrichedContact:
    defaults = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "domain": "analytical-engines.example",
        "title": "CTO",
        "phone": "020 7946 0958",
        "country": "GB",
        "linkedin_url": "https://www.linkedin.com/in/ada-lovelace",
    }
    return EnrichedContactFactory(**{**defaults, **values})


def test_it_stores_the_score_dimensions_and_rules():
    contact = _contact()
    ContactEmailFactory(
        contact=contact, email="ada@analytical-engines.example", verification_score=85
    )
    report = contact_quality_refresh(contact=contact)
    contact.refresh_from_db()
    assert contact.quality_score == report.score
    assert 0 < report.score < 100
    checks = contact.quality_checks
    assert checks["score"] == report.score
    assert set(checks["dimensions"]) == {
        "accuracy",
        "completeness",
        "consistency",
        "timeliness",
        "confidence",
    }
    rules = {r["name"]: r for r in checks["rules"]}
    assert rules["email_format"]["outcome"] == "passed"
    assert rules["phone_format"]["outcome"] == "failed"
    assert "+442079460958" in rules["phone_format"]["reason"]
    assert rules["email_company_consistency"]["outcome"] == "passed"
    assert rules["name_email_consistency"]["outcome"] == "passed"
    assert rules["seniority_vs_company_size"]["outcome"] == "not_applicable"
    assert checks["computed_at"]
    # The email's verification score is the evidence for the address.
    assert checks["dimensions"]["confidence"] == 85


def test_values_without_a_column_come_from_field_sources():
    now = timezone.now()
    contact = _contact(
        field_sources={
            "title": {"source": "apollo", "confidence": 70, "found_at": now.isoformat()},
            "company_size": {"source": "apollo", "confidence": 80, "value": "2-10"},
        }
    )
    contact_quality_refresh(contact=contact)
    rules = {r["name"]: r for r in contact.quality_checks["rules"]}
    assert rules["seniority_vs_company_size"]["outcome"] == "failed"
    assert contact.quality_checks["dimensions"]["confidence"] == 75


def test_stale_values_lower_the_score():
    contact = _contact()
    fresh = contact_quality_refresh(contact=contact).score
    EnrichedContact.objects.filter(pk=contact.pk).update(
        discovered_at=timezone.now() - timedelta(days=400)
    )
    contact.refresh_from_db()
    stale = contact_quality_refresh(contact=contact)
    assert stale.dimensions["timeliness"] == 0
    assert stale.score < fresh


def test_the_review_page_shows_the_score(alice_client):
    contact = _contact()
    contact_quality_refresh(contact=contact)
    body = alice_client.get("/").content.decode()
    assert f'<td class="quality">{contact.quality_score}</td>' in body
