from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.base import Operation
from providers.adapters.findymail import FindymailAdapter
from providers.errors import ClientError, ProviderFailure
from tests.providers.conftest import (
    CASE_ARGS,
    SECRET,
    assert_no_secret,
    assert_outcome,
    fixture_bytes,
    serve,
    standard_cases,
)

FIND = {"first_name": "John", "last_name": "Doe", "domain": "findymail.com"}


def make(httpserver) -> FindymailAdapter:
    return FindymailAdapter(base_url=httpserver.url_for("/"), credentials={"api_key": SECRET})


@pytest.mark.integration
def test_it_finds_a_verified_email_by_name(httpserver, transport):
    httpserver.expect_request(
        "/api/search/name",
        method="POST",
        json={"name": "John Doe", "domain": "findymail.com"},
        headers={"Authorization": f"Bearer {SECRET}"},
    ).respond_with_data(
        fixture_bytes("findymail", "search_name.json"), content_type="application/json"
    )

    result = make(httpserver).call(Operation.FIND_EMAIL, FIND, transport)

    assert result.found
    assert result.value("email") == "john@findymail.com"
    assert result.value("email_status") == "valid"
    assert result.value("full_name") == "John Doe"
    assert result.cost == Decimal("0.049")
    assert_no_secret(result)


@pytest.mark.integration
def test_it_finds_by_linkedin_url_when_there_is_no_name(httpserver, transport):
    httpserver.expect_request(
        "/api/search/linkedin",
        method="POST",
        json={"linkedin_url": "https://www.linkedin.com/in/johndoe"},
    ).respond_with_data(
        fixture_bytes("findymail", "search_name.json"), content_type="application/json"
    )
    inputs = {"linkedin_url": "https://www.linkedin.com/in/johndoe/"}
    assert make(httpserver).call(Operation.FIND_EMAIL, inputs, transport).found


def test_a_name_without_a_company_is_not_enough():
    with pytest.raises(ClientError) as caught:
        FindymailAdapter(credentials={"api_key": SECRET}).call(
            Operation.FIND_EMAIL, {"full_name": "John Doe"}, transport=None
        )
    assert caught.value.code == "missing_field"


@pytest.mark.integration
def test_out_of_credits_inside_a_200_is_quota_exhausted(httpserver, transport):
    httpserver.expect_request("/api/search/name").respond_with_data(
        fixture_bytes("findymail", "not_enough_credits.json"), content_type="application/json"
    )
    with pytest.raises(ProviderFailure) as caught:
        make(httpserver).call(Operation.FIND_EMAIL, FIND, transport)
    assert caught.value.code == "quota_exhausted"


@pytest.mark.integration
def test_a_200_without_a_contact_is_a_free_miss(httpserver, transport):
    httpserver.expect_request("/api/search/name").respond_with_json({"contact": None})
    result = make(httpserver).call(Operation.FIND_EMAIL, FIND, transport)
    assert result.found is False
    assert result.cost == Decimal(0)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("fixture", "status", "provider_status"),
    [("verify.json", "valid", "verified"), ("verify_false.json", "unknown", "not_verified")],
)
def test_it_verifies_and_charges_every_attempt(
    httpserver, transport, fixture, status, provider_status
):
    httpserver.expect_request(
        "/api/verify", method="POST", json={"email": "john@findymail.com"}
    ).respond_with_data(fixture_bytes("findymail", fixture), content_type="application/json")
    result = make(httpserver).call(
        Operation.VERIFY_EMAIL, {"email": "John@Findymail.com"}, transport
    )
    assert result.value("email_status") == status
    assert result.extra["provider_status"] == provider_status
    assert result.cost == Decimal("0.01")


@pytest.mark.integration
@pytest.mark.parametrize(CASE_ARGS, standard_cases())
def test_it_maps_failures(httpserver, transport, status, body, headers, expected):
    serve(httpserver, "/api/search/name", "POST", status, body, headers)
    assert_outcome(lambda: make(httpserver).call(Operation.FIND_EMAIL, FIND, transport), expected)
