from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.apollo import ApolloAdapter
from providers.adapters.base import Operation
from providers.errors import AuthenticationError
from tests.providers.conftest import (
    CASE_ARGS,
    SECRET,
    assert_no_secret,
    assert_outcome,
    fixture_bytes,
    serve,
    standard_cases,
)

PERSON = {"first_name": "Tim", "last_name": "Zheng", "domain": "apollo.io"}


def make(httpserver, **config) -> ApolloAdapter:
    return ApolloAdapter(
        base_url=httpserver.url_for("/api/v1"), credentials={"api_key": SECRET}, config=config
    )


def answer(httpserver, path: str, fixture: str, method: str = "POST", **kwargs) -> None:
    httpserver.expect_request(path, method=method, **kwargs).respond_with_data(
        fixture_bytes("apollo", fixture),
        content_type="application/json",
        headers={"x-daily-requests-left": "598", "x-minute-requests-left": "49"},
    )


@pytest.mark.integration
def test_it_enriches_a_person(httpserver, transport):
    answer(
        httpserver,
        "/api/v1/people/match",
        "people_match.json",
        headers={"x-api-key": SECRET},
        query_string={
            "first_name": "Tim",
            "last_name": "Zheng",
            "domain": "apollo.io",
            "reveal_personal_emails": "false",
            "reveal_phone_number": "false",
        },
    )
    result = make(httpserver).call(Operation.ENRICH_PERSON, PERSON, transport)

    assert result.found
    assert result.value("email") == "tim@apollo.io"
    assert result.value("email_status") == "valid"
    assert result.value("title") == "Founder & CEO"
    assert result.value("seniority") == "founder"
    assert result.value("department") == "c suite"
    assert result.value("company_name") == "Apollo.io"
    assert result.value("domain") == "apollo.io"
    assert result.value("company_size") == "1001-5000"
    assert result.value("company_revenue") == "100M"
    assert result.value("phone") == "+12023741312"
    assert result.value("location") == "San Francisco, California, United States"
    assert result.cost == Decimal("0.0250")  # one credit
    assert result.credits_left == Decimal(598)
    assert result.extra["requests_left"] == {"minute": "49", "daily": "598"}
    assert_no_secret(result)


@pytest.mark.integration
def test_a_locked_email_is_not_an_address(httpserver, transport):
    answer(httpserver, "/api/v1/people/match", "people_match_locked.json")
    adapter = make(httpserver)

    enriched = adapter.call(
        Operation.ENRICH_PERSON, {"full_name": "Joshua Garrison", "domain": "apollo.io"}, transport
    )
    assert enriched.found
    assert "email" not in enriched.fields
    assert enriched.value("department") == "marketing"

    found = adapter.call(
        Operation.FIND_EMAIL, {"full_name": "Joshua Garrison", "domain": "apollo.io"}, transport
    )
    assert found.found is False
    # Apollo still bills the enriched record.
    assert found.cost == Decimal("0.0250")


@pytest.mark.integration
def test_a_200_without_a_person_is_a_free_miss(httpserver, transport):
    answer(httpserver, "/api/v1/people/match", "people_match_no_person.json")
    result = make(httpserver).call(Operation.FIND_EMAIL, PERSON, transport)
    assert result.found is False
    assert result.cost == Decimal(0)
    assert result.http_status == 200


@pytest.mark.integration
def test_the_credit_price_is_configurable(httpserver, transport):
    answer(httpserver, "/api/v1/people/match", "people_match.json")
    result = make(httpserver, credit_price="0.10").call(Operation.ENRICH_PERSON, PERSON, transport)
    assert result.cost == Decimal("0.1000")


@pytest.mark.integration
def test_people_search_is_free_and_hides_obfuscated_names(httpserver, transport):
    answer(
        httpserver,
        "/api/v1/mixed_people/api_search",
        "api_search.json",
        query_string="q_organization_domains_list%5B%5D=apollo.io&person_titles%5B%5D=Head+of+Sales&page=1&per_page=25",
    )
    result = make(httpserver).call(
        Operation.SEARCH_PEOPLE, {"domain": "apollo.io", "title": "Head of Sales"}, transport
    )
    people = result.value("people")
    assert [p["first_name"] for p in people] == ["Andrew", "Maria"]
    assert people[0]["last_name"] is None
    assert people[1]["last_name"] == "Lopez"
    assert people[0]["provider_id"] == "67bdafd0c3a4c50001bbd7c2"
    assert result.cost == Decimal(0)
    assert result.extra["total"] == 2


@pytest.mark.integration
def test_it_enriches_a_company(httpserver, transport):
    answer(
        httpserver,
        "/api/v1/organizations/enrich",
        "organization_enrich.json",
        method="GET",
        query_string={"domain": "apollo.io"},
    )
    result = make(httpserver).call(Operation.ENRICH_COMPANY, {"domain": "www.apollo.io"}, transport)
    assert result.value("company_name") == "Apollo.io"
    assert result.value("technologies") == ["Cloudflare DNS", "Gmail", "Google Apps", "Salesforce"]
    assert result.value("company_linkedin_url") == "http://www.linkedin.com/company/apolloio"
    assert result.extra["employee_count"] == 1600


@pytest.mark.integration
@pytest.mark.parametrize(
    CASE_ARGS,
    standard_cases(
        **{
            "403": (
                403,
                {
                    "error": "api/v1/people/match is not accessible with this api_key",
                    "error_code": "API_INACCESSIBLE",
                },
                {},
                (AuthenticationError, "insufficient_permissions"),
            ),
        }
    ),
)
def test_it_maps_failures(httpserver, transport, status, body, headers, expected):
    serve(httpserver, "/api/v1/people/match", "POST", status, body, headers)
    assert_outcome(
        lambda: make(httpserver).call(Operation.ENRICH_PERSON, PERSON, transport), expected
    )


def test_it_needs_an_api_key():
    adapter = ApolloAdapter(credentials={})
    with pytest.raises(AuthenticationError) as caught:
        adapter.call(Operation.ENRICH_PERSON, PERSON, transport=None)
    assert caught.value.code == "invalid_key"
