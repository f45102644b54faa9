"""Every adapter through the door a user uses.

A stored ``Provider`` row (credentials saved with ``set_credentials``) is called with
``call_provider`` and with ``manage.py providers test SLUG``, against a loopback HTTP server
replaying the provider's documented answer (``fixtures/``). Nothing here builds an adapter by
hand, so a constructor or wiring mistake in any adapter fails these tests.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from providers.client import call_provider
from providers.models import Provider, ProviderKind
from providers.services import CANNED_INPUTS
from tests.providers.conftest import FIXTURES, SECRET
from tests.support.manage import manage

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

#: A no-code provider set up against Hunter's documented email finder, key in the query string.
GENERIC_CONFIG: dict[str, Any] = {
    "auth": {"type": "api_key_query", "param": "api_key"},
    "operations": {
        "find_email": {
            "method": "GET",
            "path": "/email-finder",
            "query": {
                "domain": "{domain}",
                "first_name": "{first_name}",
                "last_name": "{last_name}",
            },
            "mapping": {
                "email": "$.data.email",
                "first_name": "$.data.first_name",
                "last_name": "$.data.last_name",
                "title": "$.data.position",
                "company_name": "$.data.company",
                "email_status": "$.data.verification.status",
            },
            "confidence_path": "$.data.score",
            "found_path": "$.data.email",
            "transforms": {"email": "lower"},
            "cost": "0.01",
        }
    },
}


@dataclass(frozen=True)
class Case:
    adapter: str
    #: Where the provider's base URL points on the loopback server.
    prefix: str
    #: The request the first operation (the one `providers test` uses) sends.
    method: str
    path: str
    fixture: str
    #: One mapped field of the documented answer and its value.
    field: str
    value: str

    @property
    def body(self) -> bytes:
        return (FIXTURES / self.fixture).read_bytes() if self.fixture else b""


CASES = [
    Case("hunter", "/v2", "GET", "/v2/email-finder", "hunter/email_finder.json", "email", "alexis@reddit.com"),
    Case("apollo", "/api/v1", "POST", "/api/v1/people/match", "apollo/people_match.json", "email", "tim@apollo.io"),
    Case("findymail", "", "POST", "/api/search/name", "findymail/search_name.json", "email", "john@findymail.com"),
    Case("leadmagic", "", "POST", "/v1/people/email-finder", "leadmagic/email_finder.json", "email", "jesse@leadmagic.io"),
    Case("prospeo", "", "POST", "/enrich-person", "prospeo/enrich_person.json", "email", "roger.sterling@prospeo.io"),
    Case("pdl", "/v5", "GET", "/v5/person/enrich", "pdl/person_enrich.json", "email", "sean@peopledatalabs.com"),
    Case("zerobounce", "/v2", "GET", "/v2/validate", "zerobounce/validate_valid.json", "email_status", "valid"),
    Case("builtwith", "/v22", "GET", "/v22/api.json", "builtwith/domain.json", "technologies", "New Relic"),
    Case("serpapi", "", "GET", "/search.json", "serpapi/linkedin_search.json", "people", "Jane Doe"),
    Case("generic", "/v2", "GET", "/v2/email-finder", "hunter/email_finder.json", "email", "alexis@reddit.com"),
]  # fmt: skip
#: The sandbox makes its answers up and never touches the network.
SANDBOX = Case("sandbox", "", "", "", "", "email", "@stripe.com")
HTTP_IDS = [case.adapter for case in CASES]


@pytest.fixture(autouse=True)
def _online(settings):
    settings.ENRICH_OFFLINE = False
    settings.ENRICH_ALLOW_PRIVATE_NETWORKS = True  # the loopback server


def stored_provider(case: Case, httpserver: Any, **changes: Any) -> Provider:
    """The row an admin would save; a fresh slug per test, so no limiter or breaker state
    from another test (or an earlier run) applies."""
    generic = case.adapter == "generic"
    provider = Provider(
        slug=f"{case.adapter}-{uuid.uuid4().hex[:8]}",
        name=case.adapter.title(),
        kind=ProviderKind.GENERIC if generic else ProviderKind.BUILTIN,
        adapter=case.adapter,
        base_url=httpserver.url_for(case.prefix) if case.method else "",
        config=GENERIC_CONFIG if generic else {},
        **changes,
    )
    provider.set_credentials({"api_key": SECRET})
    provider.save()
    return provider


def first_operation(provider: Provider) -> str:
    from providers.adapters import get_adapter_class

    ops = list(get_adapter_class(provider.adapter).operations) or list(
        provider.config["operations"]
    )
    return str(ops[0])


def serve_fixture(httpserver: Any, case: Case) -> None:
    httpserver.expect_request(case.path, method=case.method).respond_with_data(
        case.body, content_type="application/json"
    )


def assert_one_line_failure(run: Any, *words: str) -> None:
    assert run.status != 0
    assert "Traceback" not in run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("CommandError: ")
    for word in words:
        assert word in lines[0]
    assert SECRET not in run.out + run.err


@pytest.mark.parametrize("case", CASES, ids=HTTP_IDS)
def test_call_provider_answers_from_the_stored_row(case, httpserver):
    serve_fixture(httpserver, case)
    provider = stored_provider(case, httpserver)
    op = first_operation(provider)

    result = call_provider(provider, op, CANNED_INPUTS[op], use_cache=False, max_attempts=1)

    assert result.found
    assert case.value in json.dumps(result.value(case.field))
    assert not result.extra.get("synthetic")
    assert SECRET not in json.dumps([result.raw, result.extra], default=str)
    assert [r.path for r, _ in httpserver.log if r.path == case.path] == [case.path]


@pytest.mark.parametrize("case", CASES, ids=HTTP_IDS)
def test_providers_test_prints_one_result_line_and_the_mapped_fields(
    case, httpserver, monkeypatch, capsys
):
    serve_fixture(httpserver, case)
    provider = stored_provider(case, httpserver)

    run = manage(monkeypatch, capsys, "providers", "test", provider.slug)

    assert run.status == 0, run.err
    first, *fields = run.out.splitlines()
    assert first.startswith(f"{provider.slug} ({case.adapter}) {first_operation(provider)}: found")
    assert "synthetic" not in run.out
    assert any(line.split()[0] == case.field and case.value in line for line in fields)
    assert SECRET not in run.out + run.err
    assert len(httpserver.log) >= 1


def test_the_sandbox_answers_through_the_client_without_network_and_says_it_is_synthetic(
    httpserver,
):
    provider = stored_provider(SANDBOX, httpserver)
    for op, inputs in CANNED_INPUTS.items():
        result = call_provider(provider, op, inputs, use_cache=False)
        assert result.found
        assert result.extra["synthetic"] is True
    missed = call_provider(
        provider, "find_email", {"first_name": "A", "last_name": "Nomatch", "domain": "x.example"}
    )
    assert not missed.found and missed.extra["synthetic"] is True
    assert httpserver.log == []


def test_providers_test_sandbox_says_the_data_is_synthetic(httpserver, monkeypatch, capsys):
    provider = stored_provider(SANDBOX, httpserver)

    run = manage(monkeypatch, capsys, "providers", "test", provider.slug)

    assert run.status == 0, run.err
    first, *fields = run.out.splitlines()
    assert first.startswith(f"{provider.slug} (sandbox) find_email: found")
    assert "[synthetic: made-up sandbox data" in first
    assert any(line.split()[0] == "email" and "@stripe.com" in line for line in fields)
    assert httpserver.log == []


ERRORS = {
    # The body repeats the key, as some providers do: it must be masked out of the message.
    "401": (401, json.dumps({"error": f"Invalid API key {SECRET}"}).encode(), "authentication"),
    "500": (500, b"<html>Internal Server Error</html>", "server_error"),
    "malformed-json": (200, b'{"data": {"email": ', "malformed_response"),
}


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
@pytest.mark.parametrize("case", CASES, ids=HTTP_IDS)
def test_providers_test_reports_a_failure_in_one_line(case, error, httpserver, monkeypatch, capsys):
    status, body, word = error
    httpserver.expect_request(re.compile(".*")).respond_with_data(
        body, status=status, content_type="application/json"
    )
    provider = stored_provider(case, httpserver)

    run = manage(monkeypatch, capsys, "providers", "test", provider.slug)

    assert_one_line_failure(run, provider.slug, "failed")
    assert run.out == ""
    # Providers that put errors inside their own answers name them their way; the rest
    # go through the common status mapping.
    if case.adapter not in {"builtwith", "zerobounce", "prospeo"}:
        assert word in run.err


def test_providers_test_of_an_unknown_slug_fails_in_one_line(monkeypatch, capsys):
    run = manage(monkeypatch, capsys, "providers", "test", "ghost")
    assert_one_line_failure(run, "no provider 'ghost'")


@pytest.mark.parametrize("case", [*CASES, SANDBOX], ids=[*HTTP_IDS, "sandbox"])
def test_providers_test_of_a_disabled_provider_fails_in_one_line_without_a_request(
    case, httpserver, monkeypatch, capsys
):
    provider = stored_provider(case, httpserver, enabled=False)

    run = manage(monkeypatch, capsys, "providers", "test", provider.slug)

    assert_one_line_failure(run, provider.slug, "disabled")
    assert httpserver.log == []


def test_providers_test_of_an_unknown_operation_fails_in_one_line(httpserver, monkeypatch, capsys):
    provider = stored_provider(SANDBOX, httpserver)
    run = manage(monkeypatch, capsys, "providers", "test", provider.slug, "--operation", "fly")
    assert_one_line_failure(run, "unknown operation 'fly'")


def test_providers_test_gives_a_generic_provider_every_canned_field_it_asks_for(
    httpserver, monkeypatch, capsys
):
    case = CASES[-1]
    httpserver.expect_request(
        case.path, query_string={"company": "Stripe", "domain": "stripe.com", "api_key": SECRET}
    ).respond_with_data(case.body, content_type="application/json")
    provider = stored_provider(case, httpserver)
    operation = provider.config["operations"]["find_email"]
    provider.config = {
        **provider.config,
        "operations": {
            "find_email": {
                **operation,
                "query": {"company": "{company_name}", "domain": "{domain}"},
            }
        },
    }
    provider.save()

    run = manage(monkeypatch, capsys, "providers", "test", provider.slug)

    assert run.status == 0, run.err
    assert "email" in run.out and "alexis@reddit.com" in run.out
