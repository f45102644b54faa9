from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.base import Operation
from providers.adapters.prospeo import ProspeoAdapter
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

PERSON = {"linkedin_url": "https://www.linkedin.com/in/roger-sterling"}
FIND = {"first_name": "Roger", "last_name": "Sterling", "domain": "prospeo.io"}


def make(httpserver, **config) -> ProspeoAdapter:
    return ProspeoAdapter(
        base_url=httpserver.url_for("/"), credentials={"api_key": SECRET}, config=config
    )


def answer(httpserver, fixture: str = "enrich_person.json", **kwargs) -> None:
    httpserver.expect_request("/enrich-person", method="POST", **kwargs).respond_with_data(
        fixture_bytes("prospeo", fixture), content_type="application/json"
    )


@pytest.mark.integration
def test_it_enriches_a_person_with_email_and_mobile(httpserver, transport):
    answer(
        httpserver,
        headers={"X-KEY": SECRET},
        json={
            "only_verified_email": False,
            "enrich_mobile": False,
            "data": {"linkedin_url": "https://www.linkedin.com/in/roger-sterling"},
        },
    )
    result = make(httpserver).call(Operation.ENRICH_PERSON, PERSON, transport)

    assert result.value("email") == "roger.sterling@prospeo.io"
    assert result.value("email_status") == "valid"
    assert result.value("mobile_phone") == "+1 415-555-0132"
    assert result.value("title") == "Head of Ads"
    assert result.value("domain") == "prospeo.io"
    assert result.value("company_size") == "11-50"
    assert result.value("city") == "New York"
    assert result.cost == Decimal("0.390")  # a revealed mobile costs ten credits
    assert_no_secret(result)


@pytest.mark.integration
def test_find_phone_asks_for_the_mobile(httpserver, transport):
    answer(
        httpserver,
        json={
            "only_verified_email": False,
            "enrich_mobile": True,
            "data": {"linkedin_url": "https://www.linkedin.com/in/roger-sterling"},
        },
    )
    result = make(httpserver).call(Operation.FIND_PHONE, PERSON, transport)
    assert list(result.fields) == ["mobile_phone"]


@pytest.mark.integration
def test_a_repeat_enrichment_is_free(httpserver, transport):
    answer(httpserver, "free_enrichment.json")
    result = make(httpserver).call(Operation.FIND_EMAIL, FIND, transport)
    assert result.found
    assert result.extra["free_enrichment"] is True
    assert result.cost == Decimal(0)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "NO_MATCH", NO_MATCH),
        (200, "NO_MATCH", NO_MATCH),
        (400, "INSUFFICIENT_CREDITS", (ProviderFailure, "quota_exhausted")),
        (400, "INVALID_DATAPOINTS", (ClientError, "missing_field")),
        (400, "INVALID_REQUEST", (ClientError, "invalid_request")),
        (429, "RATE_LIMITED", (TemporaryError, "rate_limited")),
        (401, "INVALID_API_KEY", (AuthenticationError, "invalid_key")),
        (400, "ACCOUNT_RESTRICTED", (AuthenticationError, "suspended")),
        (500, "INTERNAL_ERROR", (TemporaryError, "server_error")),
        (400, "SOMETHING_NEW", (ProviderFailure, "malformed_response")),
    ],
)
def test_it_reads_errors_from_the_body(httpserver, transport, status, code, expected):
    serve(httpserver, "/enrich-person", "POST", status, {"error": True, "error_code": code}, {})
    assert_outcome(
        lambda: make(httpserver).call(Operation.ENRICH_PERSON, PERSON, transport), expected
    )


@pytest.mark.integration
@pytest.mark.parametrize(CASE_ARGS, standard_cases())
def test_it_maps_failures_without_an_error_code(
    httpserver, transport, status, body, headers, expected
):
    serve(httpserver, "/enrich-person", "POST", status, body, headers)
    assert_outcome(
        lambda: make(httpserver).call(Operation.ENRICH_PERSON, PERSON, transport), expected
    )
