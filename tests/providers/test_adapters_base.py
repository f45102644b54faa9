"""The adapter contract itself: errors, shared helpers, the common status mapping, the registry."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any, ClassVar

import pytest

from providers.adapters import REGISTRY, get_adapter_class
from providers.adapters.base import (
    CANONICAL_FIELDS,
    RESULT_FIELDS,
    SEARCH_PARAMETERS,
    Adapter,
    FieldValue,
    HttpResponse,
    Operation,
    OperationSpec,
    ProviderResult,
    Transport,
)
from providers.adapters.values import (
    normalise_inputs,
    parse_retry_after,
)
from providers.errors import (
    AuthenticationError,
    ClientError,
    ErrorKind,
    ProviderError,
    ProviderFailure,
    TemporaryError,
)
from tests.providers.conftest import SECRET


class EchoAdapter(Adapter):
    """A minimal adapter whose perform() does whatever the test hands it."""

    slug = "echo"
    label = "Echo"
    docs_url = "https://example.org/docs"
    default_base_url = "https://api.example.org/"
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.FIND_EMAIL: OperationSpec(
            required=("first_name", "last_name"),
            optional=("title",),
            outputs=("email",),
            cost=Decimal("0.05"),
            one_of=(("domain", "company_name"),),
        )
    }
    action: Any = None

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        return self.action(inputs)


def echo(action) -> EchoAdapter:
    adapter = EchoAdapter(credentials={"api_key": SECRET})
    adapter.action = action
    return adapter


FIND = {"first_name": "Ada", "last_name": "Lovelace", "domain": "example.org"}


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kind", "retryable"),
    [
        (TemporaryError, ErrorKind.TEMPORARY, True),
        (AuthenticationError, ErrorKind.AUTHENTICATION, False),
        (ClientError, ErrorKind.CLIENT, False),
        (ProviderFailure, ErrorKind.PROVIDER, False),
    ],
)
def test_each_error_class_has_its_kind(cls, kind, retryable):
    error = cls(next(iter(sorted(cls.CODES))), http_status=418, retry_after=3.5)
    assert error.kind is kind
    assert error.retryable is retryable
    assert isinstance(error, ProviderError)


def test_errors_survive_pickling_between_processes():
    error = TemporaryError("rate_limited", "slow down", http_status=429, retry_after=7.0)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is TemporaryError
    assert (copy.code, copy.message, copy.http_status, copy.retry_after) == (
        "rate_limited",
        "slow down",
        429,
        7.0,
    )


def test_an_error_without_a_message_describes_its_code():
    error = ProviderFailure("quota_exhausted")
    assert error.message == "quota exhausted"
    assert error.to_dict() == {
        "error": "quota_exhausted",
        "kind": "provider",
        "message": "quota exhausted",
        "http_status": None,
        "retry_after": None,
    }


def test_call_masks_credentials_in_errors_raised_inside():
    def leak(inputs):
        raise ClientError(
            "invalid_request", f"bad request to /find?api_key={SECRET}", http_status=400
        )

    with pytest.raises(ClientError) as caught:
        echo(leak).call(Operation.FIND_EMAIL, FIND, transport=None)
    assert SECRET not in caught.value.message
    assert "[REDACTED]" in caught.value.message
    assert caught.value.http_status == 400


def test_call_turns_not_found_into_a_free_miss():
    def missing(inputs):
        raise ProviderFailure("not_found", http_status=404)

    result = echo(missing).call(Operation.FIND_EMAIL, FIND, transport=None)
    assert (result.found, result.cost, result.http_status) == (False, Decimal(0), 404)


def test_call_masks_credentials_in_stored_answers():
    def answer(inputs):
        raw = {"echo": f"key={SECRET}", "nested": [{"token": "abc"}], "Authorization": "Bearer x"}
        return ProviderResult(found=True, fields={}, raw=raw, cost=Decimal(0))

    raw = echo(answer).call(Operation.FIND_EMAIL, FIND, transport=None).raw
    assert raw == {
        "echo": "key=[REDACTED]",
        "nested": [{"token": "[REDACTED]"}],
        "Authorization": "[REDACTED]",
    }


def test_call_validates_inputs_with_alternatives():
    adapter = echo(lambda inputs: pytest.fail("must not be called"))
    with pytest.raises(ClientError) as caught:
        adapter.call(Operation.FIND_EMAIL, {"first_name": "Ada", "last_name": "  "}, transport=None)
    assert caught.value.code == "missing_field"
    assert "last_name, domain or company_name" in caught.value.message


def test_call_passes_normalised_inputs():
    seen = {}

    def record(inputs):
        seen.update(inputs)
        return ProviderResult(found=False, fields={}, raw=None, cost=Decimal(0))

    echo(record).call(
        Operation.FIND_EMAIL,
        {"full_name": "  Ada   Lovelace ", "domain": "HTTPS://WWW.Example.org/about", "title": ""},
        transport=None,
    )
    assert seen == {
        "full_name": "Ada Lovelace",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "domain": "example.org",
    }


def test_costs_can_be_overridden_per_operation():
    adapter = EchoAdapter(credentials={}, config={"costs": {"find_email": "0.2"}})
    assert adapter.cost_for(Operation.FIND_EMAIL) == Decimal("0.2")
    assert EchoAdapter(credentials={}).cost_for(Operation.FIND_EMAIL) == Decimal("0.05")


def test_the_base_url_loses_its_trailing_slash():
    assert EchoAdapter(credentials={}).url("/find") == "https://api.example.org/find"


# --- the common status mapping -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {}, None),
        (204, {}, None),
        (301, {}, (ProviderFailure, "malformed_response")),
        (400, {}, (ClientError, "invalid_request")),
        (401, {}, (AuthenticationError, "invalid_key")),
        (402, {}, (ProviderFailure, "quota_exhausted")),
        (403, {}, (AuthenticationError, "insufficient_permissions")),
        (404, {}, (ProviderFailure, "not_found")),
        (408, {}, (TemporaryError, "timeout")),
        (413, {}, (ProviderFailure, "too_large")),
        (422, {}, (ClientError, "invalid_request")),
        (429, {"retry-after": "12"}, (TemporaryError, "rate_limited")),
        (503, {"Retry-After": "5"}, (TemporaryError, "server_error")),
    ],
)
def test_the_common_status_mapping(status, headers, expected):
    response = HttpResponse(status=status, headers=headers, body=b"", elapsed_ms=1.0)
    error = EchoAdapter(credentials={}).error_for_status(response)
    if expected is None:
        assert error is None
    else:
        assert (type(error), error.code, error.http_status) == (*expected, status)
        if headers:
            assert error.retry_after == float(next(iter(headers.values())))


def test_the_providers_error_text_goes_into_the_message_masked():
    body = (
        b'{"errors": [{"id": "wrong_params", "code": 400, "details": "bad key '
        + SECRET.encode()
        + b'"}]}'
    )
    response = HttpResponse(status=400, headers={}, body=body, elapsed_ms=1.0)
    error = EchoAdapter(credentials={"api_key": SECRET}).error_for_status(response)
    assert error.message == "Echo answered HTTP 400: bad key [REDACTED]"


# --- helpers --------------------------------------------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(later, now=now.timestamp()) == 90.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_http_response_headers_ignore_case_and_json_fails_cleanly():
    response = HttpResponse(
        status=200, headers={"X-RateLimit-Remaining": "3"}, body=b"  ", elapsed_ms=1
    )
    assert response.headers["x-ratelimit-remaining"] == "3"
    with pytest.raises(ProviderFailure) as caught:
        response.json()
    assert caught.value.code == "malformed_response"
    with pytest.raises(ProviderFailure):
        HttpResponse(status=200, headers={}, body=b"\xff\xfe{", elapsed_ms=1).json()
    assert HttpResponse(status=200, headers={}, body=b'{"a": 1}', elapsed_ms=1).json() == {"a": 1}


def test_field_confidence_must_be_a_percentage():
    with pytest.raises(ValueError):
        FieldValue("x", 101)
    assert FieldValue("x", 0).confidence == 0


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("jane@Acme.co.uk", "acme.co.uk"),
        ("acme.com:8443", "acme.com"),
        ("acme.com.", "acme.com"),
    ],
)
def test_domains_are_normalised(value, domain):
    assert normalise_inputs({"domain": value}) == {"domain": domain}


def test_a_domain_input_is_normalised_as_a_leads_domain_is():
    # The cache key of a question about bücher.de is the one the finder's domain gives.
    assert normalise_inputs({"domain": "https://www.Bücher.de/"}) == {"domain": "xn--bcher-kva.de"}
    assert normalise_inputs({"domain": "Acme Inc", "company_name": "Acme"}) == {
        "company_name": "Acme"
    }


def test_linkedin_urls_are_normalised_and_blank_values_dropped():
    clean = normalise_inputs(
        {
            "linkedin_url": "linkedin.com/in/Jane-Doe/?trk=x",
            "email": " Jane@ACME.com ",
            "city": None,
        }
    )
    assert clean == {"linkedin_url": "https://linkedin.com/in/Jane-Doe", "email": "jane@acme.com"}


def test_operation_spec_lists_what_is_missing():
    spec = EchoAdapter.operations[Operation.FIND_EMAIL]
    assert spec.missing(FIND) == []
    assert spec.missing({"company_name": "Acme"}) == ["first_name", "last_name"]
    assert spec.accepted == ("first_name", "last_name", "domain", "company_name", "title")


# --- the registry ---------------------------------------------------------------------------------


def test_the_registry_knows_every_built_in_provider():
    assert set(REGISTRY) == {
        "hunter",
        "apollo",
        "findymail",
        "leadmagic",
        "prospeo",
        "pdl",
        "zerobounce",
        "builtwith",
        "serpapi",
        "sandbox",
        "generic",
    }
    assert get_adapter_class("hunter").slug == "hunter"


def test_an_unknown_slug_is_a_clear_value_error():
    with pytest.raises(ValueError, match="unknown provider 'clearbit'.*hunter"):
        get_adapter_class("clearbit")


@pytest.mark.parametrize("slug", sorted(set(REGISTRY) - {"generic"}))
def test_every_adapter_speaks_the_canonical_vocabulary(slug):
    cls = REGISTRY[slug]
    assert cls.docs_url.startswith("https://")
    assert cls.label and cls.operations
    inputs_allowed = set(CANONICAL_FIELDS) | set(SEARCH_PARAMETERS)
    for op, spec in cls.operations.items():
        assert isinstance(op, Operation)
        assert set(spec.accepted) <= inputs_allowed, (slug, op)
        assert set(spec.outputs) <= set(RESULT_FIELDS), (slug, op)
        assert isinstance(spec.cost, Decimal) and spec.cost >= 0


def test_an_unknown_operation_is_a_client_error():
    with pytest.raises(ClientError) as caught:
        echo(lambda inputs: None).call("find_horoscope", FIND, transport=None)
    assert caught.value.code == "invalid_request"
