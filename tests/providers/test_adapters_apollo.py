from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from werkzeug import Response

from providers.adapters.apollo import WEBHOOK_PATH, ApolloAdapter
from providers.adapters.base import Operation
from providers.errors import AuthenticationError, ClientError, ProviderFailure, TemporaryError
from tests.providers.conftest import (
    CASE_ARGS,
    SECRET,
    SLOW,
    assert_no_secret,
    assert_outcome,
    fixture_bytes,
    serve,
    settle,
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


# --- phone reveal (FIND_PHONE) -------------------------------------------------------------------

WEBHOOK_BASE = "https://leads.example.com"
APOLLO_PERSON_ID = "64a7ff0cc4dfae00013df1a5"  # people_match.json


class FakeStore:
    """Stands in for providers.reveals: records what the adapter asks of it."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.attached: dict[int, tuple[str | None, str | None]] = {}
        self.discarded: list[int] = []

    def phone_reveal_open(self, *, adapter, token: str) -> int:
        self.opened.append(token)
        return len(self.opened)

    def phone_reveal_attach(self, *, reveal_id, person_id, request_id) -> None:
        self.attached[reveal_id] = (person_id, request_id)

    def phone_reveal_discard(self, *, reveal_id) -> None:
        self.discarded.append(reveal_id)


@pytest.fixture
def store(monkeypatch) -> FakeStore:
    fake = FakeStore()
    monkeypatch.setattr(ApolloAdapter, "reveal_store", fake)
    return fake


def revealer(httpserver, **config) -> ApolloAdapter:
    return make(httpserver, webhook_base_url=WEBHOOK_BASE, **config)


def sent_params(httpserver) -> dict[str, str]:
    (request, _response), *_ = httpserver.log
    return dict(request.args)


@pytest.mark.integration
def test_find_phone_asks_apollo_to_post_the_phones_to_a_tokened_webhook(
    httpserver, transport, store
):
    answer(httpserver, "/api/v1/people/match", "people_match.json")
    result = revealer(httpserver).call(Operation.FIND_PHONE, PERSON, transport)

    params = sent_params(httpserver)
    assert params["reveal_phone_number"] == "true"
    assert params["first_name"] == "Tim"
    webhook = urlsplit(params["webhook_url"])
    assert (webhook.scheme, webhook.netloc) == ("https", "leads.example.com")
    assert webhook.path.startswith("/" + WEBHOOK_PATH)
    token = webhook.path.removeprefix("/" + WEBHOOK_PATH)
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert store.opened == [token]
    assert store.attached == {1: (APOLLO_PERSON_ID, None)}
    assert store.discarded == []

    assert result.found
    assert result.value("email") == "tim@apollo.io"
    assert "mobile_phone" not in result.fields  # it comes later, on the webhook
    assert result.cost == Decimal("0.0250")  # the match's credit; the mobile's 8 come later
    assert result.extra["phone_reveal"] == {"id": 1, "request_id": None, "mobile_cost": "0.2000"}
    assert result.extra["apollo_id"] == APOLLO_PERSON_ID
    assert token not in json.dumps([result.raw, result.extra])
    assert_no_secret(result)


@pytest.mark.integration
def test_each_reveal_gets_its_own_token_and_keeps_apollos_request_id(httpserver, transport, store):
    body = json.loads(fixture_bytes("apollo", "people_match.json"))
    # Apollo echoing our webhook URL must not put the token into the stored answer.
    httpserver.expect_request("/api/v1/people/match").respond_with_handler(
        lambda request: _json_response(
            {**body, "request_id": 1039995589705121900, "echo": request.args["webhook_url"]}
        )
    )
    adapter = revealer(httpserver, credit_price="0.10")
    first = adapter.call(Operation.FIND_PHONE, PERSON, transport)
    second = adapter.call(Operation.FIND_PHONE, PERSON, transport)

    assert len(set(store.opened)) == 2
    assert first.extra["phone_reveal"]["id"] == 1
    assert second.extra["phone_reveal"] == {
        "id": 2,
        "request_id": "1039995589705121900",
        "mobile_cost": "0.8000",
    }
    assert store.attached[2] == (APOLLO_PERSON_ID, "1039995589705121900")
    for token, result in zip(store.opened, (first, second), strict=True):
        assert token not in json.dumps(result.raw)
        assert result.raw["echo"].endswith("[REDACTED]")
    assert adapter._secrets == {SECRET}  # tokens are forgotten after their call


def _json_response(data):
    return Response(json.dumps(data), status=200, content_type="application/json")


@pytest.mark.parametrize(
    "config",
    [{}, {"webhook_base_url": ""}, {"webhook_base_url": "http://leads.example.com"}],
    ids=["missing", "blank", "not-https"],
)
def test_find_phone_needs_a_public_https_webhook_base_url(httpserver, transport, store, config):
    with pytest.raises(ClientError) as caught:
        make(httpserver, **config).call(Operation.FIND_PHONE, PERSON, transport)
    assert caught.value.code == "invalid_request"
    assert "webhook_base_url" in caught.value.message
    assert "Apollo provider config" in caught.value.message
    assert httpserver.log == []  # nothing sent, nothing paid
    assert store.opened == []


@pytest.mark.integration
def test_a_reveal_without_a_match_is_a_free_miss_and_leaves_nothing_pending(
    httpserver, transport, store
):
    answer(httpserver, "/api/v1/people/match", "people_match_no_person.json")
    result = revealer(httpserver).call(Operation.FIND_PHONE, PERSON, transport)
    assert result.found is False
    assert result.cost == Decimal(0)
    assert store.discarded == [1]


@pytest.mark.integration
@pytest.mark.parametrize(CASE_ARGS, standard_cases())
def test_find_phone_maps_failures(httpserver, transport, store, status, body, headers, expected):
    serve(httpserver, "/api/v1/people/match", "POST", status, body, headers)
    assert_outcome(
        lambda: revealer(httpserver).call(Operation.FIND_PHONE, PERSON, transport), expected
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "body", "error", "discarded"),
    [
        (401, b'{"error": "Invalid access credentials."}', AuthenticationError, [1]),
        (429, b'{"error": "Too many requests"}', TemporaryError, [1]),
        (500, b"<html>oops</html>", TemporaryError, [1]),
        # A garbled 200 may still be followed by the webhook: the reveal stays pending.
        (200, b'{"person": ', ProviderFailure, []),
    ],
    ids=["401", "429", "500", "malformed-json"],
)
def test_a_refused_reveal_is_discarded_but_an_unreadable_answer_keeps_waiting(
    httpserver, transport, store, status, body, error, discarded
):
    serve(httpserver, "/api/v1/people/match", "POST", status, body, {})
    with pytest.raises(error):
        revealer(httpserver).call(Operation.FIND_PHONE, PERSON, transport)
    assert store.discarded == discarded


@pytest.mark.integration
def test_a_timed_out_reveal_keeps_waiting_for_its_webhook(httpserver, transport, store):
    serve(httpserver, "/api/v1/people/match", "POST", 200, SLOW, {})
    try:
        with pytest.raises(TemporaryError) as caught:
            revealer(httpserver).call(Operation.FIND_PHONE, PERSON, transport)
    finally:
        settle()
    assert caught.value.code == "timeout"
    assert len(store.opened) == 1
    assert store.discarded == []  # Apollo may have taken it: the webhook can still come
