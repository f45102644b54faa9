"""The contacts admin shows the quality score and each rule's result, read-only."""

import pytest

from contacts.models import EnrichedContact
from contacts.services import contact_quality_refresh
from tests.factories import ContactEmailFactory, EnrichedContactFactory

pytestmark = pytest.mark.django_db


def _scored_contact() -> EnrichedContact:
    contact = EnrichedContactFactory(
        first_name="Ada",
        last_name="Lovelace",
        domain="analytical-engines.example",
        title="VP Engineering",
        field_sources={"company_size": {"source": "apollo", "confidence": 80, "value": "5"}},
    )
    ContactEmailFactory(contact=contact, email="sales@analytical-engines.example")
    contact_quality_refresh(contact=contact)
    return contact


def test_it_shows_each_rule_with_its_result_and_reason(alice_client):
    contact = _scored_contact()
    response = alice_client.get(f"/admin/contacts/enrichedcontact/{contact.pk}/change/")
    body = response.content.decode()
    assert response.status_code == 200
    for rule in (
        "email_format",
        "phone_format",
        "linkedin_format",
        "email_company_consistency",
        "name_email_consistency",
        "seniority_vs_company_size",
    ):
        assert f"<td>{rule}</td>" in body
    assert "sales@ is a role address" in body
    assert "&#x27;vp engineering&#x27; at a company of 5 (&lt; 50)" in body
    assert "<td>accuracy</td><td>× 0.35</td>" in body
    order = ["accuracy", "completeness", "consistency", "timeliness", "confidence"]
    positions = [body.index(f"<td>{name}</td>") for name in order]
    assert positions == sorted(positions)
    # Read-only: no form input for the score or the checks.
    assert 'name="quality_score"' not in body
    assert 'name="quality_checks"' not in body


def test_an_unscored_contact_says_so(alice_client):
    contact = EnrichedContactFactory()
    body = alice_client.get(f"/admin/contacts/enrichedcontact/{contact.pk}/change/").content
    assert "Not scored yet" in body.decode()


def test_saving_the_change_form_keeps_the_stored_checks(alice_client):
    contact = _scored_contact()
    checks = contact.quality_checks
    url = f"/admin/contacts/enrichedcontact/{contact.pk}/change/"
    response = alice_client.get(url)
    form = response.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "emails-TOTAL_FORMS": "0",
            "emails-INITIAL_FORMS": "0",
            "field_sources": '{"company_size": {"value": "5"}}',
            "title": "Engineer",
        }
    )
    response = alice_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    contact.refresh_from_db()
    assert contact.title == "Engineer"
    assert contact.quality_checks == checks


def test_the_admin_action_recomputes_the_score(alice_client):
    contact = EnrichedContactFactory(first_name="Ada", last_name="Lovelace")
    response = alice_client.post(
        "/admin/contacts/enrichedcontact/",
        {"action": "refresh_quality", "_selected_action": [contact.pk]},
        follow=True,
    )
    assert "Quality score recomputed for 1 contact(s)." in response.content.decode()
    contact.refresh_from_db()
    assert contact.quality_score is not None
    assert len(contact.quality_checks["rules"]) == 6


def test_a_teammate_without_change_rights_cannot_run_the_action(client, bob):
    from django.contrib.auth.models import Permission

    bob.user_permissions.add(Permission.objects.get(codename="view_enrichedcontact"))
    client.force_login(bob)
    contact = EnrichedContactFactory()
    client.post(
        "/admin/contacts/enrichedcontact/",
        {"action": "refresh_quality", "_selected_action": [contact.pk]},
    )
    contact.refresh_from_db()
    assert contact.quality_score is None
