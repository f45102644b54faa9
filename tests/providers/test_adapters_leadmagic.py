from __future__ import annotations

from decimal import Decimal

import pytest

from providers.adapters.base import Operation
from providers.adapters.leadmagic import LeadMagicAdapter
from providers.errors import AuthenticationError, ClientError, ProviderFailure
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

FIND = {"first_name": "Jesse", "last_name": "Ouellette", "domain": "leadmagic.io"}
COMPANY = {"domain": "leadmagic.io"}
MOBILE = {"linkedin_url": "linkedin.com/in/alex-rivera/"}
# Every operation goes through the same error table.
OPERATIONS = [
    pytest.param(Operation.FIND_EMAIL, "/v1/people/email-finder", FIND, id="find_email"),
    pytest.param(
        Operation.ENRICH_COMPANY, "/v1/companies/company-search", COMPANY, id="enrich_company"
    ),
    pytest.param(Operation.FIND_PHONE, "/v1/people/mobile-finder", MOBILE, id="find_phone"),
]
# Words from LeadMagic's documented error bodies that must reach the error message.
DOCUMENTED_WORDS = {401: "Invalid or missing API key", 402: "requires 5 credit(s)"}


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
def test_it_enriches_a_company_from_its_domain(httpserver, transport):
    httpserver.expect_request(
        "/v1/companies/company-search",
        method="POST",
        json={"company_domain": "leadmagic.io"},
        headers={"X-API-Key": SECRET},
    ).respond_with_data(
        fixture_bytes("leadmagic", "company_search.json"), content_type="application/json"
    )

    result = make(httpserver).call(Operation.ENRICH_COMPANY, COMPANY, transport)

    assert result.found is True
    assert {name: (f.value, f.confidence) for name, f in result.fields.items()} == {
        "company_name": ("LeadMagic", 85),
        "domain": ("leadmagic.io", 90),
        "company_linkedin_url": ("https://www.linkedin.com/company/leadmagichq", 80),
        "industry": ("Internet", 70),
        "company_size": ("11-50", 70),  # employeeCountRange, not employeeCount (9)
        "company_revenue": ("5.1B", 55),
        "city": ("Boston", 70),
        "state": ("Massachusetts", 70),
        "country": ("US", 75),
        "location": ("Boston, Massachusetts, US", 70),
    }
    assert result.cost == Decimal("0.0240")  # credits_consumed: 1
    assert result.extra["company_id"] == 75153174
    assert result.extra["employee_count"] == 9
    assert_no_secret(result)


@pytest.mark.integration
def test_it_searches_a_company_by_name_and_profile(httpserver, transport):
    httpserver.expect_request(
        "/v1/companies/company-search",
        method="POST",
        json={"company_name": "Leadmagic", "profile_url": "leadmagichq"},
    ).respond_with_json(
        {
            "message": "Company found",
            "companyName": "LeadMagic",
            "employeeCount": 9,
            "employee_range": "5,000 - 10,000",
            "revenue": 5100000000,
            "locations": [
                {"city": "Paris", "country": "FR"},
                {"city": "Boston", "geographicArea": "Massachusetts", "headquarter": True},
            ],
        }
    )

    result = make(httpserver).call(
        Operation.ENRICH_COMPANY,
        {"company_name": "Leadmagic", "company_linkedin_url": "leadmagichq"},
        transport,
    )

    assert result.value("company_size") == "1-10"  # employeeCount when no range is declared
    assert result.value("company_revenue") == "5100000000"
    assert result.value("city") == "Boston"  # the location marked as headquarters
    assert result.value("location") == "Boston, Massachusetts"
    assert "domain" not in result.fields  # no websiteUrl and no domain asked for
    assert result.cost == Decimal("0.024")  # no credits_consumed: the list price of a hit


@pytest.mark.integration
@pytest.mark.parametrize(
    "body",
    [
        fixture_bytes("leadmagic", "company_search_not_found.json"),
        b'{"message": "Company not found"}',  # no credits_consumed: still free
    ],
    ids=["documented", "without-credits"],
)
def test_an_unknown_company_is_a_free_miss(httpserver, transport, body):
    httpserver.expect_request("/v1/companies/company-search").respond_with_data(
        body, content_type="application/json"
    )
    result = make(httpserver).call(Operation.ENRICH_COMPANY, COMPANY, transport)
    assert result.found is False
    assert result.fields == {}
    assert result.cost == Decimal(0)
    assert result.extra["message"] == "Company not found"


@pytest.mark.integration
def test_it_finds_a_mobile_from_a_profile(httpserver, transport):
    httpserver.expect_request(
        "/v1/people/mobile-finder",
        method="POST",
        json={"profile_url": "https://linkedin.com/in/alex-rivera"},
        headers={"X-API-Key": SECRET},
    ).respond_with_data(
        fixture_bytes("leadmagic", "mobile_finder.json"), content_type="application/json"
    )

    result = make(httpserver).call(Operation.FIND_PHONE, MOBILE, transport)

    assert result.found is True
    assert result.value("mobile_phone") == "+12077523358"  # E.164
    assert result.confidence("mobile_phone") == 75
    assert set(result.fields) == {"mobile_phone"}  # a mobile is not the office phone
    assert result.cost == Decimal("0.1200")  # credits_consumed: 5
    assert result.extra["message"] == "Mobile number found."
    assert_no_secret(result)


@pytest.mark.integration
def test_it_finds_a_mobile_from_work_and_personal_emails(httpserver, transport):
    httpserver.expect_request(
        "/v1/people/mobile-finder",
        method="POST",
        json={"work_email": "alex.rivera@example.com", "personal_email": "alex@gmail.com"},
    ).respond_with_json({"mobile_number": "12077523358", "message": "Mobile number found."})

    result = make(httpserver).call(
        Operation.FIND_PHONE,
        {"email": "Alex.Rivera@example.com", "personal_email": "alex@gmail.com"},
        transport,
    )

    assert result.value("mobile_phone") == "+12077523358"  # E.164
    assert result.cost == Decimal("0.12")  # no credits_consumed: the list price of 5 credits


@pytest.mark.integration
@pytest.mark.parametrize(
    "body",
    [
        fixture_bytes("leadmagic", "mobile_finder_not_found.json"),
        b'{"mobile_number": "", "message": "No mobile number found for this contact."}',
    ],
    ids=["documented", "without-credits"],
)
def test_no_mobile_is_a_free_miss(httpserver, transport, body):
    httpserver.expect_request("/v1/people/mobile-finder").respond_with_data(
        body, content_type="application/json"
    )
    result = make(httpserver).call(Operation.FIND_PHONE, MOBILE, transport)
    assert result.found is False
    assert result.fields == {}
    assert result.cost == Decimal(0)
    assert result.extra["message"] == "No mobile number found for this contact."


@pytest.mark.parametrize(
    ("op", "inputs"),
    [
        (Operation.FIND_PHONE, {"first_name": "Alex", "last_name": "Rivera"}),
        (Operation.ENRICH_COMPANY, {"industry": "Internet"}),
    ],
)
def test_it_needs_an_identifier_before_calling(op, inputs):
    adapter = LeadMagicAdapter(credentials={"api_key": SECRET})
    with pytest.raises(ClientError) as caught:
        adapter.call(op, inputs, transport=None)  # never reaches the network
    assert caught.value.code == "missing_field"


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
            ),
            "402-documented-body": (
                402,
                fixture_bytes("leadmagic", "error_402.json"),
                {},
                (ProviderFailure, "quota_exhausted"),
            ),
            "404-documented-body": (
                404,
                fixture_bytes("leadmagic", "error_404.json"),
                {},
                NO_MATCH,
            ),
        }
    ),
)
@pytest.mark.parametrize(("op", "path", "inputs"), OPERATIONS)
def test_it_maps_failures(httpserver, transport, op, path, inputs, status, body, headers, expected):
    serve(httpserver, path, "POST", status, body, headers)
    outcome = assert_outcome(lambda: make(httpserver).call(op, inputs, transport), expected)
    if expected == NO_MATCH:
        assert outcome.cost == Decimal(0)
    elif isinstance(body, bytes) and status in DOCUMENTED_WORDS:
        assert DOCUMENTED_WORDS[status] in outcome.message  # the provider's own words
