from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.base import Operation
from providers.adapters.zerobounce import ZeroBounceAdapter
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

EMAIL = {"email": "flowerjill@aol.com"}


def make(httpserver) -> ZeroBounceAdapter:
    return ZeroBounceAdapter(base_url=httpserver.url_for("/v2"), credentials={"api_key": SECRET})


def answer(httpserver, fixture: str) -> None:
    httpserver.expect_request("/v2/validate").respond_with_data(
        fixture_bytes("zerobounce", fixture), content_type="application/json"
    )


@pytest.mark.integration
def test_it_validates_with_the_key_as_a_query_parameter(httpserver, transport):
    httpserver.expect_request(
        "/v2/validate",
        method="GET",
        query_string={"email": "flowerjill@aol.com", "ip_address": "", "api_key": SECRET},
    ).respond_with_data(
        fixture_bytes("zerobounce", "validate_valid.json"), content_type="application/json"
    )
    result = make(httpserver).call(Operation.VERIFY_EMAIL, EMAIL, transport)
    assert result.value("email_status") == "valid"
    assert result.value("first_name") == "Jill"
    assert result.extra["free_email"] is True
    assert result.cost == Decimal("0.008")
    assert_no_secret(result)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("fixture", "status", "cost"),
    [
        ("validate_catch_all.json", "catch_all", Decimal("0.008")),
        ("validate_unknown.json", "unknown", Decimal(0)),  # unknown results are never charged
        ("validate_disposable.json", "disposable", Decimal("0.008")),
    ],
)
def test_it_maps_statuses(httpserver, transport, fixture, status, cost):
    answer(httpserver, fixture)
    result = make(httpserver).call(Operation.VERIFY_EMAIL, EMAIL, transport)
    assert result.value("email_status") == status
    assert result.cost == cost


@pytest.mark.integration
@pytest.mark.parametrize(
    ("credits", "expected"),
    [("-1", (AuthenticationError, "invalid_key")), ("0", (ProviderFailure, "quota_exhausted"))],
)
def test_it_tells_a_bad_key_from_an_empty_account(httpserver, transport, credits, expected):
    answer(httpserver, "error_key_or_credits.json")
    httpserver.expect_request("/v2/getcredits", query_string={"api_key": SECRET}).respond_with_json(
        {"Credits": credits}
    )
    assert_outcome(
        lambda: make(httpserver).call(Operation.VERIFY_EMAIL, EMAIL, transport), expected
    )


@pytest.mark.integration
def test_an_unexpected_status_is_malformed(httpserver, transport):
    httpserver.expect_request("/v2/validate").respond_with_json(
        {"address": "a@b.co", "status": "maybe"}
    )
    with pytest.raises(ProviderFailure) as caught:
        make(httpserver).call(Operation.VERIFY_EMAIL, EMAIL, transport)
    assert caught.value.code == "malformed_response"


@pytest.mark.integration
@pytest.mark.parametrize(CASE_ARGS, standard_cases())
def test_it_maps_failures(httpserver, transport, status, body, headers, expected):
    serve(httpserver, "/v2/validate", "GET", status, body, headers)
    assert_outcome(
        lambda: make(httpserver).call(Operation.VERIFY_EMAIL, EMAIL, transport), expected
    )


@pytest.mark.integration
def test_a_key_echoed_in_an_answer_is_masked(httpserver, transport):
    httpserver.expect_request("/v2/validate").respond_with_json(
        {
            "address": "flowerjill@aol.com",
            "status": "valid",
            "sub_status": "",
            "echo": f"https://api.zerobounce.net/v2/validate?api_key={SECRET}",
            "api_key": SECRET,
        }
    )
    result = make(httpserver).call(Operation.VERIFY_EMAIL, EMAIL, transport)
    assert_no_secret(result)
    assert result.raw["api_key"] == "[REDACTED]"
