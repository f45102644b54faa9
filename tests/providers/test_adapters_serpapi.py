from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.base import Operation
from providers.adapters.serpapi import SerpApiAdapter, parse_profile_title, profile_url
from providers.errors import AuthenticationError, ProviderFailure, TemporaryError
from tests.providers.conftest import (
    CASE_ARGS,
    SECRET,
    assert_no_secret,
    assert_outcome,
    fixture_bytes,
    serve,
    standard_cases,
)

SEARCH = {"company_name": "Acme", "title": "Head of Sales"}


def make(httpserver) -> SerpApiAdapter:
    return SerpApiAdapter(base_url=httpserver.url_for("/"), credentials={"api_key": SECRET})


@pytest.mark.integration
def test_it_finds_linkedin_profiles_by_company_and_title(httpserver, transport):
    httpserver.expect_request(
        "/search.json",
        method="GET",
        query_string={
            "engine": "google",
            "q": 'site:linkedin.com/in "Acme" "Head of Sales"',
            "num": "10",
            "api_key": SECRET,
        },
    ).respond_with_data(
        fixture_bytes("serpapi", "linkedin_search.json"), content_type="application/json"
    )

    result = make(httpserver).call(Operation.SEARCH_PEOPLE, SEARCH, transport)

    people = result.value("people")
    assert [p["full_name"] for p in people] == ["Jane Doe", "John Smith", "Priya Patel"]
    jane, john, priya = people
    assert (jane["title"], jane["company_name"]) == ("Head of Sales", "Acme")
    assert jane["linkedin_url"] == "https://www.linkedin.com/in/jane-doe-12345"
    assert jane["confidence"] == 60
    assert (john["title"], john["company_name"]) == ("VP Sales", "Acme")
    assert john["confidence"] == 50  # names the company but not the title searched for
    assert priya["linkedin_url"] == "https://www.linkedin.com/in/priyapatel"
    assert priya["title"] is None and priya["company_name"] == "Acme"
    assert result.cost == Decimal("0.015")
    assert_no_secret(result)


@pytest.mark.integration
def test_an_empty_search_is_a_billed_miss(httpserver, transport):
    httpserver.expect_request("/search.json").respond_with_data(
        fixture_bytes("serpapi", "empty.json"), content_type="application/json"
    )
    result = make(httpserver).call(
        Operation.SEARCH_PEOPLE, {"company_name": "Nonexistent Co"}, transport
    )
    assert result.found is False
    assert result.cost == Decimal("0.015")
    assert result.extra["query"] == 'site:linkedin.com/in "Nonexistent Co"'


@pytest.mark.integration
def test_other_error_strings_are_provider_failures(httpserver, transport):
    httpserver.expect_request("/search.json").respond_with_json(
        {"search_metadata": {"status": "Error"}, "error": f"Unsupported parameter for {SECRET}"}
    )
    assert_outcome(
        lambda: make(httpserver).call(Operation.SEARCH_PEOPLE, SEARCH, transport),
        (ProviderFailure, "malformed_response"),
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    CASE_ARGS,
    standard_cases(
        **{
            "401-documented-body": (
                401,
                fixture_bytes("serpapi", "error_401.json"),
                {},
                (AuthenticationError, "invalid_key"),
            ),
            "429-out-of-searches": (
                429,
                fixture_bytes("serpapi", "error_out_of_searches.json"),
                {},
                (ProviderFailure, "quota_exhausted"),
            ),
            "429-hourly-limit": (
                429,
                {"error": "Hourly throughput limit exceeded"},
                {"Retry-After": "30"},
                (TemporaryError, "rate_limited", 30.0),
            ),
        }
    ),
)
def test_it_maps_failures(httpserver, transport, status, body, headers, expected):
    serve(httpserver, "/search.json", "GET", status, body, headers)
    assert_outcome(
        lambda: make(httpserver).call(Operation.SEARCH_PEOPLE, SEARCH, transport), expected
    )


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Jane Doe - Head of Sales - Acme | LinkedIn", ("Jane Doe", "Head of Sales", "Acme")),
        ("John Smith – VP Sales at Acme – LinkedIn", ("John Smith", "VP Sales", "Acme")),
        ("Priya Patel, MBA - Acme | LinkedIn", ("Priya Patel", None, "Acme")),
        ("Sam Lee - Engineer | LinkedIn", ("Sam Lee", "Engineer", None)),
        ("Ana Ruiz | LinkedIn", ("Ana Ruiz", None, None)),
        ("Li Wei - Engineer - LinkedIn | LinkedIn", ("Li Wei", "Engineer", "LinkedIn")),
    ],
)
def test_it_splits_profile_titles(title, expected):
    parsed = parse_profile_title(title, company_hint="Acme")
    assert (parsed["full_name"], parsed["title"], parsed["company_name"]) == expected


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (
            "https://de.linkedin.com/in/anna-b-1a2b3c?trk=x",
            "https://www.linkedin.com/in/anna-b-1a2b3c",
        ),
        ("https://www.linkedin.com/company/acme", None),
        ("https://linkedin.com.evil.example/in/x", None),
        ("https://example.com/in/x", None),
    ],
)
def test_it_accepts_only_linkedin_profile_links(link, expected):
    assert profile_url(link) == expected
