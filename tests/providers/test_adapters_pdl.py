from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.base import Operation
from providers.adapters.pdl import PeopleDataLabsAdapter
from providers.errors import ProviderFailure
from tests.providers.conftest import (
    CASE_ARGS,
    NO_MATCH,
    SECRET,
    assert_no_secret,
    assert_outcome,
    fixture_bytes,
    serve,
    standard_cases,
)

PERSON = {"linkedin_url": "linkedin.com/in/seanthorne"}


def make(httpserver, **config) -> PeopleDataLabsAdapter:
    return PeopleDataLabsAdapter(
        base_url=httpserver.url_for("/v5"), credentials={"api_key": SECRET}, config=config
    )


@pytest.mark.integration
def test_it_enriches_a_person_and_turns_likelihood_into_confidence(httpserver, transport):
    httpserver.expect_request(
        "/v5/person/enrich",
        method="GET",
        query_string={"profile": "https://linkedin.com/in/seanthorne", "min_likelihood": "6"},
        headers={"X-Api-Key": SECRET},
    ).respond_with_data(
        fixture_bytes("pdl", "person_enrich.json"),
        content_type="application/json",
        headers={"x-call-credits-spent": "1", "x-totallimit-remaining": "99"},
    )
    result = make(httpserver, min_likelihood=6).call(Operation.ENRICH_PERSON, PERSON, transport)

    assert result.value("full_name") == "Sean Thorne"
    assert result.confidence("full_name") == 90  # likelihood 9
    assert result.value("email") == "sean@peopledatalabs.com"
    assert result.value("email_status") == "unknown"  # PDL does not verify mailboxes
    assert result.value("personal_email") == "sthorne@example.org"
    assert result.value("mobile_phone") == "+14155688415"
    assert result.value("linkedin_url") == "https://linkedin.com/in/seanthorne"
    assert result.value("seniority") == "cxo"
    assert result.value("company_size") == "51-200"
    assert result.value("domain") == "peopledatalabs.com"
    assert result.value("city") == "San Francisco"
    assert "zip_code" not in result.fields
    assert result.cost == Decimal("0.28")
    assert result.credits_left == Decimal(99)
    assert result.extra["call_credits_spent"] == "1"
    assert_no_secret(result)


@pytest.mark.integration
def test_hidden_contact_fields_are_not_values(httpserver, transport):
    httpserver.expect_request("/v5/person/enrich").respond_with_data(
        fixture_bytes("pdl", "person_enrich_free_plan.json"), content_type="application/json"
    )
    adapter = make(httpserver)
    enriched = adapter.call(Operation.ENRICH_PERSON, PERSON, transport)
    for name in ("email", "personal_email", "mobile_phone", "phone"):
        assert name not in enriched.fields
    assert enriched.confidence("full_name") == 60

    found = adapter.call(
        Operation.FIND_EMAIL,
        {"full_name": "Sean Thorne", "domain": "peopledatalabs.com"},
        transport,
    )
    assert found.found is False
    assert found.cost == Decimal("0.28")  # PDL bills the match, not the email


@pytest.mark.integration
def test_it_enriches_a_company(httpserver, transport):
    httpserver.expect_request(
        "/v5/company/enrich", query_string={"website": "peopledatalabs.com"}
    ).respond_with_data(
        fixture_bytes("pdl", "company_enrich.json"), content_type="application/json"
    )
    result = make(httpserver).call(
        Operation.ENRICH_COMPANY, {"domain": "peopledatalabs.com"}, transport
    )
    assert result.value("company_name") == "People Data Labs"
    assert result.value("company_size") == "51-200"
    assert result.value("zip_code") == "94105"
    assert result.confidence("company_name") == 60
    assert result.cost == Decimal("0.10")


@pytest.mark.integration
@pytest.mark.parametrize(
    CASE_ARGS,
    standard_cases(
        **{
            "404": (404, fixture_bytes("pdl", "error_404.json"), {}, NO_MATCH),
            "402": (
                402,
                fixture_bytes("pdl", "error_402.json"),
                {},
                (ProviderFailure, "quota_exhausted"),
            ),
        }
    ),
)
def test_it_maps_failures(httpserver, transport, status, body, headers, expected):
    serve(httpserver, "/v5/person/enrich", "GET", status, body, headers)
    outcome = assert_outcome(
        lambda: make(httpserver).call(Operation.ENRICH_PERSON, PERSON, transport), expected
    )
    if expected == NO_MATCH:
        assert outcome.cost == Decimal(0)  # "we charge per match"
        assert outcome.http_status == 404
    elif status == 402:
        assert "account maximum" in outcome.message
