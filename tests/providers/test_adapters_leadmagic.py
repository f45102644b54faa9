from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.base import Operation
from providers.adapters.leadmagic import LeadMagicAdapter
from providers.errors import AuthenticationError, ProviderFailure
from tests.providers.conftest import (
    CASE_ARGS,
    SECRET,
    assert_no_secret,
    assert_outcome,
    fixture_bytes,
    serve,
    standard_cases,
)

FIND = {"first_name": "Jesse", "last_name": "Ouellette", "domain": "leadmagic.io"}


def make(httpserver) -> LeadMagicAdapter:
    return LeadMagicAdapter(base_url=httpserver.url_for("/"), credentials={"api_key": SECRET})


@pytest.mark.integration
def test_it_finds_an_email_and_company_fields(httpserver, transport):
    httpserver.expect_request(
        "/v1/people/email-finder",
        method="POST",
        json=FIND,
        headers={"X-API-Key": SECRET},
    ).respond_with_data(
        fixture_bytes("leadmagic", "email_finder.json"), content_type="application/json"
    )

    result = make(httpserver).call(Operation.FIND_EMAIL, FIND, transport)

    assert result.value("email") == "jesse@leadmagic.io"
    assert result.value("email_status") == "valid"
    assert result.value("company_size") == "11-50"
    assert result.value("company_linkedin_url") == "https://www.linkedin.com/company/leadmagichq"
    assert result.value("city") == "boston"
    assert "industry" not in result.fields  # empty string in the answer
    assert result.cost == Decimal("0.0240")  # credits_consumed: 1
    assert_no_secret(result)


@pytest.mark.integration
def test_not_found_is_a_free_miss(httpserver, transport):
    httpserver.expect_request("/v1/people/email-finder").respond_with_data(
        fixture_bytes("leadmagic", "email_finder_not_found.json"), content_type="application/json"
    )
    result = make(httpserver).call(Operation.FIND_EMAIL, FIND, transport)
    assert result.found is False
    assert result.cost == Decimal(0)
    assert result.extra["provider_status"] == "not_found"


@pytest.mark.integration
def test_it_validates_an_email_at_a_fraction_of_a_credit(httpserver, transport):
    httpserver.expect_request(
        "/v1/people/email-validation", method="POST", json={"email": "jesse@leadmagic.io"}
    ).respond_with_data(
        fixture_bytes("leadmagic", "email_validation.json"), content_type="application/json"
    )
    result = make(httpserver).call(
        Operation.VERIFY_EMAIL, {"email": "jesse@leadmagic.io"}, transport
    )
    assert result.value("email_status") == "catch_all"
    assert result.extra["provider_status"] == "valid_catch_all"
    assert result.cost == Decimal("0.0012")


@pytest.mark.integration
def test_a_validation_without_a_status_is_malformed(httpserver, transport):
    httpserver.expect_request("/v1/people/email-validation").respond_with_json({"email": "x@y.io"})
    with pytest.raises(ProviderFailure) as caught:
        make(httpserver).call(Operation.VERIFY_EMAIL, {"email": "x@y.io"}, transport)
    assert caught.value.code == "malformed_response"


@pytest.mark.integration
@pytest.mark.parametrize(
    CASE_ARGS,
    standard_cases(
        **{
            "401-documented-body": (
                401,
                fixture_bytes("leadmagic", "error_401.json"),
                {},
                (AuthenticationError, "invalid_key"),
            )
        }
    ),
)
def test_it_maps_failures(httpserver, transport, status, body, headers, expected):
    serve(httpserver, "/v1/people/email-finder", "POST", status, body, headers)
    error = assert_outcome(
        lambda: make(httpserver).call(Operation.FIND_EMAIL, FIND, transport), expected
    )
    if status == 401 and isinstance(body, bytes):
        assert "Invalid or missing API key" in error.message  # the provider's own words
