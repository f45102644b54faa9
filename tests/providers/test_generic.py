"""The no-code provider: templates, every auth type, OAuth2 token caching, mapping, transforms."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache

from providers.adapters import generic
from providers.adapters.base import Operation
from providers.adapters.generic import GenericAdapter, render
from providers.errors import AuthenticationError, ClientError, ProviderFailure
from tests.providers.conftest import (
    CASE_ARGS,
    SECRET,
    assert_no_secret,
    assert_outcome,
    serve,
    standard_cases,
)

FIND = {"first_name": "Jane", "last_name": "Doe", "domain": "acme.com"}
ANSWER = {
    "data": {
        "found": True,
        "email": "  Jane.Doe@ACME.com ",
        "score": 8,
        "status": "deliverable",
        "phones": [
            {"type": "office", "number": "+1 555 0100"},
            {"type": "mobile", "number": "+1 555 0199"},
        ],
        "title": "  Head of   Sales ",
    },
    "company": {"employees": 320, "stack": [{"name": "React"}, {"name": "Django"}]},
}


def op_config(**changes: Any) -> dict[str, Any]:
    config = {
        "method": "POST",
        "path": "/v1/people/{domain}/find",
        "query": {"verbose": "1", "company": "{company_name}"},
        "headers": {"Accept": "application/json"},
        "body": {
            "name": {"first": "{first_name}", "last": "{last_name}"},
            "note": "literal {{braces}}",
        },
        "optional": ["company_name"],
        "mapping": {
            "email": "$.data.email",
            "email_status": "$.data.status",
            "phone": "$.data.phones",
            "title": "$.data.title",
            "company_size": "$.company.employees",
            "technologies": "$.company.stack[*].name",
        },
        "confidence_path": "$.data.score",
        "confidence_scale": 10,
        "found_path": "$.data.found",
        "transforms": {
            "*": "strip",
            "email": "lower",
            "phone": "pick_phone",
            "company_size": "employee_band",
        },
        "cost": "0.02",
    }
    config.update(changes)
    return config


def make(
    httpserver,
    auth: dict[str, Any] | None = None,
    credentials: dict[str, str] | None = None,
    **changes: Any,
) -> GenericAdapter:
    return GenericAdapter(
        base_url=httpserver.url_for("/api"),
        credentials=credentials if credentials is not None else {"api_key": SECRET},
        config={
            "operations": {"find_email": op_config(**changes)},
            "auth": auth or {"type": "api_key_header"},
        },
    )


@pytest.mark.integration
def test_it_renders_the_request_and_maps_the_answer(httpserver, transport):
    httpserver.expect_request(
        "/api/v1/people/acme.com/find",
        method="POST",
        query_string={"verbose": "1"},  # the optional company placeholder was empty: left out
        headers={"X-API-Key": SECRET, "Accept": "application/json"},
        json={"name": {"first": "Jane", "last": "Doe"}, "note": "literal {braces}"},
    ).respond_with_json(ANSWER)

    result = make(httpserver).call(Operation.FIND_EMAIL, FIND, transport)

    assert result.found
    assert result.value("email") == "jane.doe@acme.com"
    assert result.value("email_status") == "valid"
    assert result.value("phone") == "+1 555 0199"
    assert result.value("title") == "Head of Sales"
    assert result.value("company_size") == "201-500"
    assert result.value("technologies") == ["React", "Django"]
    assert {fv.confidence for fv in result.fields.values()} == {80}  # score 8 on a 0-10 scale
    assert result.cost == Decimal("0.02")
    assert result.raw == ANSWER


@pytest.mark.integration
def test_found_path_false_is_a_miss_at_the_miss_price(httpserver, transport):
    answer = copy.deepcopy(ANSWER)
    answer["data"]["found"] = False
    httpserver.expect_request("/api/v1/people/acme.com/find").respond_with_json(answer)
    result = make(httpserver, miss_cost="0.005").call(Operation.FIND_EMAIL, FIND, transport)
    assert result.found is False
    assert result.cost == Decimal("0.005")


@pytest.mark.integration
def test_without_found_path_nothing_mapped_is_a_miss(httpserver, transport):
    httpserver.expect_request("/api/v1/people/acme.com/find").respond_with_json({"data": {}})
    result = make(httpserver, found_path=None).call(Operation.FIND_EMAIL, FIND, transport)
    assert result.found is False
    assert result.cost == Decimal(0)


@pytest.mark.integration
def test_a_missing_confidence_uses_the_default(httpserver, transport):
    answer = copy.deepcopy(ANSWER)
    del answer["data"]["score"]
    httpserver.expect_request("/api/v1/people/acme.com/find").respond_with_json(answer)
    result = make(httpserver, default_confidence=35).call(Operation.FIND_EMAIL, FIND, transport)
    assert result.confidence("email") == 35


def test_placeholders_become_required_inputs(httpserver):
    adapter = make(httpserver)
    spec = adapter.operations[Operation.FIND_EMAIL]
    assert spec.required == ("domain", "first_name", "last_name")
    assert spec.optional == ("company_name",)
    with pytest.raises(ClientError) as caught:
        adapter.call(Operation.FIND_EMAIL, {"first_name": "Jane"}, transport=None)
    assert caught.value.code == "missing_field"


def test_an_invalid_config_fails_every_call_with_its_errors():
    adapter = GenericAdapter(
        base_url="https://api.example.com",
        credentials={},
        config={"operations": {"find_email": {"path": "nope", "mapping": {"email": "$["}}}},
    )
    assert len(adapter.config_errors) == 2
    with pytest.raises(ClientError) as caught:
        adapter.call(Operation.FIND_EMAIL, FIND, transport=None)
    assert caught.value.code == "invalid_request"
    assert "path: must be a path" in caught.value.message


def test_render_keeps_types_and_never_evaluates_attributes():
    values = {"limit": 25, "first_name": "Jane", "api_key": SECRET}
    assert render({"n": "{limit}", "s": "p-{limit}", "gone": "{domain}"}, values) == {
        "n": 25,
        "s": "p-25",
    }
    assert render("{api_key.__class__}", values) == "{api_key.__class__}"
    assert render(["{first_name}", "{{x}}"], values) == ["Jane", "{x}"]


# --- auth ----------------------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("auth", "credentials", "headers", "query"),
    [
        ({"type": "none"}, {}, {}, {"verbose": "1"}),
        ({"type": "api_key_header"}, {"api_key": SECRET}, {"X-API-Key": SECRET}, {"verbose": "1"}),
        (
            {"type": "api_key_header", "header": "Authorization", "prefix": "Token "},
            {"api_key": SECRET},
            {"Authorization": f"Token {SECRET}"},
            {"verbose": "1"},
        ),
        (
            {"type": "api_key_query", "param": "key"},
            {"api_key": SECRET},
            {},
            {"verbose": "1", "key": SECRET},
        ),
        (
            {"type": "bearer"},
            {"token": SECRET},
            {"Authorization": f"Bearer {SECRET}"},
            {"verbose": "1"},
        ),
        (
            {"type": "basic"},
            {"username": "ada", "password": SECRET},
            {"Authorization": basic("ada", SECRET)},
            {"verbose": "1"},
        ),
    ],
    ids=["none", "header", "header-prefix", "query", "bearer", "basic"],
)
def test_each_auth_type(httpserver, transport, auth, credentials, headers, query):
    httpserver.expect_request(
        "/api/v1/people/acme.com/find", headers=headers, query_string=query
    ).respond_with_json({**ANSWER, "echo": f"auth was {' '.join(credentials.values())}"})
    result = make(httpserver, auth=auth, credentials=credentials).call(
        Operation.FIND_EMAIL, FIND, transport
    )
    assert result.found
    assert_no_secret(result)


def test_missing_credentials_are_an_authentication_error(httpserver):
    adapter = make(httpserver, auth={"type": "bearer"}, credentials={})
    with pytest.raises(AuthenticationError):
        adapter.call(Operation.FIND_EMAIL, FIND, transport=None)
    assert adapter.required_credentials() == ("token",)


# --- OAuth2 client credentials --------------------------------------------------------------------


@pytest.fixture
def oauth(httpserver):
    """An OAuth2 adapter with a client id of its own, so cached tokens never leak across tests."""
    client_id = f"client-{uuid.uuid4().hex[:8]}"
    adapter = make(
        httpserver,
        auth={
            "type": "oauth2_client_credentials",
            "token_url": "/oauth/token",
            "scope": "people:read",
        },
        credentials={"client_id": client_id, "client_secret": SECRET},
    )
    yield adapter
    adapter.forget_token()


def token_requests(httpserver) -> int:
    return sum(1 for request, _ in httpserver.log if request.path == "/api/oauth/token")


def data_requests(httpserver) -> int:
    return sum(1 for request, _ in httpserver.log if request.path.endswith("/find"))


def issue_tokens(httpserver, *tokens: str, expires_in: int = 3600) -> None:
    # One-shot handlers answer in the order they were registered, each once.
    for token in tokens:
        httpserver.expect_oneshot_request("/api/oauth/token", method="POST").respond_with_json(
            {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
        )


@pytest.mark.integration
def test_oauth_fetches_a_token_once_and_reuses_it(httpserver, transport, oauth):
    client_id = oauth.credentials["client_id"]
    httpserver.expect_request(
        "/api/oauth/token",
        method="POST",
        headers={"Authorization": basic(client_id, SECRET)},
        data="grant_type=client_credentials&scope=people%3Aread",
    ).respond_with_json(
        {"access_token": "tok-AAAA-1111", "token_type": "bearer", "expires_in": 3600}
    )
    httpserver.expect_request(
        "/api/v1/people/acme.com/find", headers={"Authorization": "Bearer tok-AAAA-1111"}
    ).respond_with_json(ANSWER)

    for _ in range(3):
        assert oauth.call(Operation.FIND_EMAIL, FIND, transport).found
    assert token_requests(httpserver) == 1
    assert data_requests(httpserver) == 3

    # A second adapter for the same client (another worker) uses the cached token too.
    twin = make(httpserver, auth=oauth.auth, credentials=dict(oauth.credentials))
    assert twin.call(Operation.FIND_EMAIL, FIND, transport).found
    assert token_requests(httpserver) == 1


def test_the_token_cache_holds_no_secret_and_no_plain_token(httpserver, oauth, transport):
    issue_tokens(httpserver, "tok-PLAIN-2222")
    httpserver.expect_request("/api/v1/people/acme.com/find").respond_with_json(ANSWER)
    oauth.call(Operation.FIND_EMAIL, FIND, transport)
    key = oauth.token_cache_key()
    stored = cache.get(key)
    assert SECRET not in key and oauth.credentials["client_id"] not in key
    assert isinstance(stored, str) and "tok-PLAIN-2222" not in stored


@pytest.mark.integration
def test_oauth_refreshes_before_expiry(httpserver, transport, oauth, monkeypatch):
    issue_tokens(httpserver, "tok-first-1", "tok-second-2", expires_in=600)
    httpserver.expect_request("/api/v1/people/acme.com/find").respond_with_json(ANSWER)
    start = generic._now()

    oauth.call(Operation.FIND_EMAIL, FIND, transport)
    monkeypatch.setattr(generic, "_now", lambda: start + 539)  # inside expires_in - 60
    oauth.call(Operation.FIND_EMAIL, FIND, transport)
    assert token_requests(httpserver) == 1

    monkeypatch.setattr(generic, "_now", lambda: start + 541)  # past the 60 s margin
    oauth.call(Operation.FIND_EMAIL, FIND, transport)
    assert token_requests(httpserver) == 2
    last_request, _ = httpserver.log[-1]
    assert last_request.headers["Authorization"] == "Bearer tok-second-2"


@pytest.mark.integration
def test_a_401_on_a_cached_token_refreshes_once_and_retries(httpserver, transport, oauth):
    issue_tokens(httpserver, "tok-old-1")
    httpserver.expect_request(
        "/api/v1/people/acme.com/find", headers={"Authorization": "Bearer tok-old-1"}
    ).respond_with_json(ANSWER)
    oauth.call(Operation.FIND_EMAIL, FIND, transport)  # caches tok-old-1

    httpserver.clear_all_handlers()
    issue_tokens(httpserver, "tok-new-2")
    httpserver.expect_request(
        "/api/v1/people/acme.com/find", headers={"Authorization": "Bearer tok-old-1"}
    ).respond_with_data(b'{"error": "token revoked"}', status=401)
    httpserver.expect_request(
        "/api/v1/people/acme.com/find", headers={"Authorization": "Bearer tok-new-2"}
    ).respond_with_json(ANSWER)
    httpserver.clear_log()

    assert oauth.call(Operation.FIND_EMAIL, FIND, transport).found
    assert token_requests(httpserver) == 1
    assert data_requests(httpserver) == 2


@pytest.mark.integration
def test_a_401_on_a_fresh_token_is_not_retried(httpserver, transport, oauth):
    issue_tokens(httpserver, "tok-fresh-1")
    httpserver.expect_request("/api/v1/people/acme.com/find").respond_with_data(b"", status=401)
    with pytest.raises(AuthenticationError) as caught:
        oauth.call(Operation.FIND_EMAIL, FIND, transport)
    assert caught.value.code == "expired_token"
    assert token_requests(httpserver) == 1
    assert data_requests(httpserver) == 1


@pytest.mark.integration
def test_client_credentials_can_go_in_the_body(httpserver, transport, oauth):
    oauth.auth["client_auth"] = "body"
    client_id = oauth.credentials["client_id"]
    httpserver.expect_request(
        "/api/oauth/token",
        data=f"grant_type=client_credentials&scope=people%3Aread&client_id={client_id}&client_secret={SECRET}",
    ).respond_with_json({"access_token": "tok-body-1", "expires_in": 3600})
    httpserver.expect_request("/api/v1/people/acme.com/find").respond_with_json(ANSWER)
    assert oauth.call(Operation.FIND_EMAIL, FIND, transport).found


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": "invalid_client"}, (AuthenticationError, "invalid_key")),
        (400, {"error": "invalid_scope"}, (AuthenticationError, "insufficient_permissions")),
        (401, {"error": f"bad secret {SECRET}"}, (AuthenticationError, "invalid_key")),
        (404, {}, (ClientError, "invalid_request")),
        (200, {"token_type": "bearer"}, (ProviderFailure, "malformed_response")),
    ],
)
def test_token_endpoint_failures(httpserver, transport, oauth, status, body, expected):
    httpserver.expect_request("/api/oauth/token").respond_with_json(body, status=status)
    assert_outcome(lambda: oauth.call(Operation.FIND_EMAIL, FIND, transport), expected)
    assert data_requests(httpserver) == 0


@pytest.mark.integration
@pytest.mark.parametrize(CASE_ARGS, standard_cases())
def test_it_maps_failures(httpserver, transport, status, body, headers, expected):
    serve(httpserver, "/api/v1/people/acme.com/find", "POST", status, body, headers)
    assert_outcome(lambda: make(httpserver).call(Operation.FIND_EMAIL, FIND, transport), expected)


@pytest.mark.integration
def test_a_204_is_a_miss(httpserver, transport):
    httpserver.expect_request("/api/v1/people/acme.com/find").respond_with_data(b"", status=204)
    assert make(httpserver).call(Operation.FIND_EMAIL, FIND, transport).found is False


def test_the_config_is_plain_json():
    # Admins paste it into a JSON field: nothing in the documented example needs Python.
    assert json.loads(json.dumps({"operations": {"find_email": op_config()}}))


@pytest.mark.integration
def test_a_cache_outage_costs_a_token_request_not_the_call(
    httpserver, transport, oauth, monkeypatch
):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    for name in ("get", "set", "delete"):
        monkeypatch.setattr(generic.cache, name, down)
    issue_tokens(httpserver, "tok-nocache-1", "tok-nocache-2")
    httpserver.expect_request("/api/v1/people/acme.com/find").respond_with_json(ANSWER)
    assert oauth.call(Operation.FIND_EMAIL, FIND, transport).found
    assert oauth.call(Operation.FIND_EMAIL, FIND, transport).found
    assert token_requests(httpserver) == 2
