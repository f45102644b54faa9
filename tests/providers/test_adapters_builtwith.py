from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.base import Operation
from providers.adapters.builtwith import BuiltWithAdapter
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

DOMAIN = {"domain": "hotelscombined.com"}


def make(httpserver, **config) -> BuiltWithAdapter:
    return BuiltWithAdapter(
        base_url=httpserver.url_for("/v22"), credentials={"api_key": SECRET}, config=config
    )


@pytest.mark.integration
def test_it_lists_live_technologies_once_each(httpserver, transport):
    httpserver.expect_request(
        "/v22/api.json",
        method="GET",
        query_string={"LOOKUP": "hotelscombined.com", "LIVEONLY": "yes", "KEY": SECRET},
    ).respond_with_data(
        fixture_bytes("builtwith", "domain.json"),
        content_type="application/json",
        headers={"X-API-CREDITS-REMAINING": "1999"},
    )
    result = make(httpserver).call(Operation.TECHNOGRAPHICS, DOMAIN, transport)
    assert result.value("technologies") == ["Google Tag Manager", "New Relic", "Cloudflare"]
    assert result.value("company_name") == "HotelsCombined"
    assert result.value("industry") == "Travel"
    assert result.credits_left == Decimal(1999)
    assert result.extra["technology_details"][1]["tag"] == "analytics"
    assert result.cost == Decimal("0.10")
    assert_no_secret(result)


@pytest.mark.integration
def test_all_detections_can_be_asked_for(httpserver, transport):
    httpserver.expect_request(
        "/v22/api.json", query_string={"LOOKUP": "hotelscombined.com", "KEY": SECRET}
    ).respond_with_data(fixture_bytes("builtwith", "domain.json"), content_type="application/json")
    assert make(httpserver, live_only=False).call(Operation.TECHNOGRAPHICS, DOMAIN, transport).found


@pytest.mark.integration
def test_a_domain_without_technologies_is_a_billed_miss(httpserver, transport):
    httpserver.expect_request("/v22/api.json").respond_with_data(
        fixture_bytes("builtwith", "empty.json"), content_type="application/json"
    )
    result = make(httpserver).call(Operation.TECHNOGRAPHICS, {"domain": "tiny.example"}, transport)
    assert result.found is False
    assert result.cost == Decimal("0.10")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("error_key.json", (AuthenticationError, "invalid_key")),
        ("error_credits.json", (ProviderFailure, "quota_exhausted")),
    ],
)
def test_it_reads_errors_inside_a_200(httpserver, transport, fixture, expected):
    httpserver.expect_request("/v22/api.json").respond_with_data(
        fixture_bytes("builtwith", fixture), content_type="application/json"
    )
    assert_outcome(
        lambda: make(httpserver).call(Operation.TECHNOGRAPHICS, DOMAIN, transport), expected
    )


@pytest.mark.integration
@pytest.mark.parametrize(CASE_ARGS, standard_cases())
def test_it_maps_failures(httpserver, transport, status, body, headers, expected):
    serve(httpserver, "/v22/api.json", "GET", status, body, headers)
    assert_outcome(
        lambda: make(httpserver).call(Operation.TECHNOGRAPHICS, DOMAIN, transport), expected
    )
