from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.base import Operation
from providers.adapters.hunter import HunterAdapter
from providers.errors import AuthenticationError, ClientError, ProviderFailure, TemporaryError
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

FIND = {"first_name": "Alexis", "last_name": "Ohanian", "domain": "https://www.Reddit.com/"}


def make(httpserver) -> HunterAdapter:
    return HunterAdapter(base_url=httpserver.url_for("/v2"), credentials={"api_key": SECRET})


@pytest.mark.integration
def test_it_finds_an_email_with_the_key_in_a_header(httpserver, transport):
    httpserver.expect_request(
        "/v2/email-finder",
        method="GET",
        query_string={"domain": "reddit.com", "first_name": "Alexis", "last_name": "Ohanian"},
        headers={"X-API-KEY": SECRET},
    ).respond_with_data(
        fixture_bytes("hunter", "email_finder.json"), content_type="application/json"
    )

    result = make(httpserver).call(Operation.FIND_EMAIL, FIND, transport)

    assert result.found is True
    assert result.value("email") == "alexis@reddit.com"
    assert result.confidence("email") == 97
    assert result.value("email_status") == "valid"
    assert result.value("title") == "Cofounder"
    assert result.value("company_name") == "Reddit"
    assert result.cost == Decimal("0.025")
    assert result.raw["data"]["sources"][0]["domain"] == "redditblog.com"
    # The key travels in the header, never in the query string.
    request, _ = httpserver.log[0]
    assert "api_key" not in request.args
    assert_no_secret(result)


@pytest.mark.integration
def test_it_uses_the_company_name_when_there_is_no_domain(httpserver, transport):
    httpserver.expect_request(
        "/v2/email-finder",
        query_string={"company": "Reddit", "first_name": "Alexis", "last_name": "Ohanian"},
    ).respond_with_data(
        fixture_bytes("hunter", "email_finder.json"), content_type="application/json"
    )

    inputs = {"full_name": "Alexis Ohanian", "company_name": "Reddit"}
    assert make(httpserver).call(Operation.FIND_EMAIL, inputs, transport).found


@pytest.mark.integration
def test_it_reports_no_email_as_a_free_miss(httpserver, transport):
    httpserver.expect_request("/v2/email-finder").respond_with_data(
        fixture_bytes("hunter", "email_finder_empty.json"), content_type="application/json"
    )
    result = make(httpserver).call(Operation.FIND_EMAIL, FIND, transport)
    assert result.found is False
    assert result.cost == Decimal(0)


def test_it_refuses_a_call_without_the_needed_inputs():
    adapter = HunterAdapter(credentials={"api_key": SECRET})
    with pytest.raises(ClientError) as caught:
        adapter.call(Operation.FIND_EMAIL, {"first_name": "Alexis"}, transport=None)
    assert caught.value.code == "missing_field"
    assert "last_name" in caught.value.message
    assert "domain or company_name" in caught.value.message


def test_it_refuses_operations_hunter_does_not_offer():
    adapter = HunterAdapter(credentials={"api_key": SECRET})
    with pytest.raises(ClientError) as caught:
        adapter.call(Operation.TECHNOGRAPHICS, {"domain": "stripe.com"}, transport=None)
    assert caught.value.code == "invalid_request"


@pytest.mark.integration
@pytest.mark.parametrize(
    CASE_ARGS,
    standard_cases(
        # Hunter: 403 is its rate limit, 429 its plan quota (no point waiting).
        **{
            "403": (
                403,
                {"errors": [{"id": "too_many_requests", "code": 403, "details": "rate limit"}]},
                {"Retry-After": "2"},
                (TemporaryError, "rate_limited", 2.0),
            ),
            "429-retry-after-seconds": (
                429,
                {"errors": [{"details": "usage limit"}]},
                {"Retry-After": "7"},
                (ProviderFailure, "quota_exhausted"),
            ),
            "429-retry-after-date": None,
            "429-no-retry-after": (429, b"", {}, (ProviderFailure, "quota_exhausted")),
            "451": (451, {"errors": [{"details": "claimed"}]}, {}, NO_MATCH),
            "401": (
                401,
                fixture_bytes("hunter", "error_401.json"),
                {},
                (AuthenticationError, "invalid_key"),
            ),
        }
    ),
)
def test_it_maps_failures_of_the_email_finder(
    httpserver, transport, status, body, headers, expected
):
    serve(httpserver, "/v2/email-finder", "GET", status, body, headers)
    assert_outcome(lambda: make(httpserver).call(Operation.FIND_EMAIL, FIND, transport), expected)


@pytest.mark.integration
def test_it_verifies_an_email(httpserver, transport):
    httpserver.expect_request(
        "/v2/email-verifier", query_string={"email": "patrick@stripe.com"}
    ).respond_with_data(
        fixture_bytes("hunter", "email_verifier.json"), content_type="application/json"
    )

    result = make(httpserver).call(
        Operation.VERIFY_EMAIL, {"email": " Patrick@Stripe.com "}, transport
    )

    assert result.found
    assert result.value("email_status") == "valid"
    assert result.value("email_score") == 100
    assert result.extra["smtp_check"] is True
    assert result.cost == Decimal("0.0125")


@pytest.mark.integration
def test_it_does_not_charge_accept_all_verifications(httpserver, transport):
    httpserver.expect_request("/v2/email-verifier").respond_with_data(
        fixture_bytes("hunter", "email_verifier_accept_all.json"), content_type="application/json"
    )
    result = make(httpserver).call(
        Operation.VERIFY_EMAIL, {"email": "someone@stripe.com"}, transport
    )
    assert result.value("email_status") == "catch_all"
    assert result.cost == Decimal(0)


@pytest.mark.integration
def test_it_asks_again_once_when_verification_is_in_progress(httpserver, transport):
    httpserver.expect_ordered_request("/v2/email-verifier").respond_with_data(
        b'{"data": null}', status=202, content_type="application/json"
    )
    httpserver.expect_ordered_request("/v2/email-verifier").respond_with_data(
        fixture_bytes("hunter", "email_verifier.json"), content_type="application/json"
    )
    result = make(httpserver).call(
        Operation.VERIFY_EMAIL, {"email": "patrick@stripe.com"}, transport
    )
    assert result.value("email_status") == "valid"
    assert len(httpserver.log) == 2


@pytest.mark.integration
def test_it_gives_up_after_a_second_in_progress_answer(httpserver, transport):
    httpserver.expect_request("/v2/email-verifier").respond_with_data(
        b"", status=202, headers={"Retry-After": "12"}
    )
    with pytest.raises(TemporaryError) as caught:
        make(httpserver).call(Operation.VERIFY_EMAIL, {"email": "patrick@stripe.com"}, transport)
    assert caught.value.code == "timeout"
    assert caught.value.retry_after == 12.0
    assert len(httpserver.log) == 2


@pytest.mark.integration
def test_it_reads_a_failed_smtp_check_as_an_unknown_verdict(httpserver, transport):
    httpserver.expect_request("/v2/email-verifier").respond_with_data(b"", status=222)
    result = make(httpserver).call(
        Operation.VERIFY_EMAIL, {"email": "patrick@stripe.com"}, transport
    )
    assert result.found
    assert result.value("email_status") == "unknown"
    assert result.http_status == 222
    assert result.extra["verification_failed"] is True
    assert result.cost == Decimal(0)


@pytest.mark.integration
def test_domain_search_returns_emails_people_and_the_pattern(httpserver, transport):
    httpserver.expect_request(
        "/v2/domain-search", query_string={"domain": "stripe.com", "limit": "10"}
    ).respond_with_data(
        fixture_bytes("hunter", "domain_search.json"), content_type="application/json"
    )

    result = make(httpserver).call(Operation.SEARCH_PEOPLE, {"domain": "stripe.com"}, transport)

    assert result.extra["pattern"] == "{first}"
    assert result.extra["accept_all"] is True
    assert result.extra["total"] == 35
    emails = result.value("emails")
    assert [e["email"] for e in emails] == ["patrick@stripe.com", "support@stripe.com"]
    assert emails[0]["first_name"] == "Patrick" and emails[0]["confidence"] == 92
    people = result.value("people")
    assert len(people) == 1  # the generic support@ address is not a person
    assert people[0]["title"] == "CEO" and people[0]["seniority"] == "executive"
    assert result.value("company_name") == "Stripe"
    assert result.cost == Decimal("0.025")  # one request for 1-10 emails


@pytest.mark.integration
def test_domain_search_with_nothing_found_is_a_free_miss(httpserver, transport):
    httpserver.expect_request("/v2/domain-search").respond_with_json(
        {"data": {"domain": "tiny.example", "pattern": None, "emails": []}, "meta": {"results": 0}}
    )
    result = make(httpserver).call(Operation.SEARCH_PEOPLE, {"domain": "tiny.example"}, transport)
    assert result.found is False
    assert result.cost == Decimal(0)


def test_the_fingerprint_ignores_case_and_spacing():
    adapter = HunterAdapter(credentials={"api_key": SECRET})
    a = adapter.fingerprint_inputs(Operation.FIND_EMAIL, {**FIND, "title": "ignored"})
    b = adapter.fingerprint_inputs(
        Operation.FIND_EMAIL,
        {"first_name": " Alexis ", "last_name": "Ohanian", "domain": "reddit.com"},
    )
    assert a == b
    assert a["domain"] == "reddit.com"
    assert "title" not in a
