"""contact_find_match against stored contacts (PostgreSQL)."""

import pytest
from django.db import connection

from contacts.models import ContactSource, EnrichedContact
from contacts.selectors import contact_find_match
from tests.factories import ContactEmailFactory, EnrichedContactFactory

pytestmark = pytest.mark.django_db


def _contact(**values) -> EnrichedContact:
    defaults = {"first_name": "José", "last_name": "García-López", "domain": "acme.com"}
    return EnrichedContactFactory(**{**defaults, **values})


def test_saving_a_contact_stores_its_keys():
    contact = _contact(linkedin_url="https://www.linkedin.com/in/Jose-GL/?trk=x")
    contact.refresh_from_db()
    assert contact.name_key == "jose garcialopez@acme.com"
    assert contact.linkedin_key == "linkedin.com/in/jose-gl"


def test_a_partial_save_of_the_name_refreshes_the_key():
    contact = _contact()
    contact.last_name = "Lovelace"
    contact.save(update_fields=["last_name"])
    contact.refresh_from_db()
    assert contact.name_key == "jose lovelace@acme.com"


def test_bulk_create_and_bulk_update_fill_the_keys_too():
    (contact,) = EnrichedContact.objects.bulk_create(
        [
            EnrichedContact(
                first_name="Ada", last_name="Lovelace", domain="acme.com", source="import"
            )
        ]
    )
    assert EnrichedContact.objects.get(pk=contact.pk).name_key == "ada lovelace@acme.com"
    contact.domain = "engines.example"
    EnrichedContact.objects.bulk_update([contact], ["domain"])
    assert EnrichedContact.objects.get(pk=contact.pk).name_key == "ada lovelace@engines.example"


def test_it_finds_the_contact_by_any_of_its_emails_whatever_the_case():
    contact = _contact()
    ContactEmailFactory(contact=contact, email="jose@acme.com", is_primary=True)
    ContactEmailFactory(contact=contact, email="J.Garcia@Acme.com", is_primary=False)
    assert contact_find_match(email="j.garcia@acme.com") == contact
    assert contact_find_match(email=" JOSE@ACME.COM ") == contact


def test_it_finds_the_contact_by_linkedin_url_in_another_spelling():
    contact = _contact(linkedin_url="https://www.linkedin.com/in/jose-gl")
    assert contact_find_match(linkedin_url="linkedin.com/in/Jose-GL/?utm=1") == contact


def test_it_finds_the_contact_by_folded_name_at_the_same_domain():
    contact = _contact()
    assert contact_find_match(full_name="JOSE GARCIA-LOPEZ", domain="www.acme.com") == contact
    assert contact_find_match(first_name="Jose", last_name="Garcia Lopez", domain="acme.com") == (
        contact
    )


def test_a_double_surname_written_without_a_hyphen_in_a_full_name_is_found():
    contact = _contact(last_name="García López")
    assert contact_find_match(full_name="Jose Garcia Lopez", domain="acme.com") == contact


def test_the_middle_name_reading_wins_over_the_double_surname_one():
    double_surname = _contact(first_name="Ada", last_name="King Lovelace")
    middle_name = _contact(first_name="Ada", last_name="Lovelace")
    assert double_surname.pk < middle_name.pk
    assert contact_find_match(full_name="Ada King Lovelace", domain="acme.com") == middle_name


def test_the_same_name_at_another_domain_is_another_person():
    _contact()
    assert contact_find_match(full_name="José García-López", domain="other.example") is None


def test_email_wins_over_linkedin_and_linkedin_over_name():
    by_name = _contact()
    by_linkedin = _contact(
        first_name="Someone", last_name="Else", linkedin_url="https://linkedin.com/in/jgl"
    )
    by_email = _contact(first_name="Third", last_name="Person")
    ContactEmailFactory(contact=by_email, email="jgl@acme.com", is_primary=True)
    everything = {
        "full_name": "José García-López",
        "domain": "acme.com",
        "linkedin_url": "https://www.linkedin.com/in/jgl",
    }
    assert contact_find_match(**everything, email="jgl@acme.com") == by_email
    assert contact_find_match(**everything, email="nobody@acme.com") == by_linkedin
    assert contact_find_match(full_name="José García-López", domain="acme.com") == by_name


def test_the_oldest_of_several_duplicates_is_the_persons_contact():
    first = _contact()
    _contact()
    assert contact_find_match(full_name="José García-López", domain="acme.com") == first


def test_nothing_to_match_on_finds_nothing(django_assert_num_queries):
    _contact()
    with django_assert_num_queries(0):
        assert contact_find_match() is None
        assert contact_find_match(email="not an email", full_name="Ada", domain="gmail.com") is None


def test_it_takes_at_most_two_queries(django_assert_max_num_queries):
    for n in range(5):
        _contact(first_name=f"Person{'abcde'[n]}", source=ContactSource.IMPORT)
    with django_assert_max_num_queries(2):
        contact_find_match(
            email="missing@acme.com",
            linkedin_url="https://linkedin.com/in/missing",
            full_name="Missing Person",
            domain="acme.com",
        )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's query plans")
def test_its_queries_can_be_answered_from_indexes():
    """With sequential scans priced out, PostgreSQL must find an index for every lookup:
    if one is missing it still scans, and the plan says so."""
    from django.test.utils import CaptureQueriesContext

    _contact(linkedin_url="https://linkedin.com/in/jgl")
    with CaptureQueriesContext(connection) as queries:
        contact_find_match(
            email="x@acme.com",
            linkedin_url="linkedin.com/in/jgl",
            full_name="Ann Bee",
            domain="a.io",
        )
        contact_find_match(
            linkedin_url="linkedin.com/in/nobody", full_name="Ann Marie Bee", domain="a.io"
        )
    assert len(queries) == 3
    # A walk along the primary key with a filter is a scan too: each lookup names its index.
    expected = [
        {"contactemail_email_lower"},
        {"contact_linkedin_key", "contact_name_key"},
        {"contact_linkedin_key", "contact_name_key"},
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query, indexes in zip(queries, expected, strict=True):
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan" not in plan, plan
            for index in indexes:
                assert f"using {index} " in plan or f"on {index}" in plan, plan
