"""The waterfall asks providers in order, stops at a confident answer, drops dead ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enrichment.batch import read_leads
from enrichment.waterfall import run_provider_step
from providers.models import ProviderCall
from tests.factories import ProviderFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]
FIXTURES = Path(__file__).resolve().parents[1] / "providers" / "fixtures" / "hunter"
MAPPING = {"first_name": "first", "last_name": "last", "domain": "domain"}


def _leads(n=1):
    names = [("Jane", "Doe"), ("John", "Roe"), ("Ann", "Poe")][:n]
    rows = [{"first": first, "last": last, "domain": "stripe.com"} for first, last in names]
    return read_leads(rows, MAPPING)


@pytest.fixture
def hunter(httpserver):
    provider = ProviderFactory(slug="hunter", adapter="hunter", base_url=httpserver.url_for("/v2"))
    provider.set_credentials({"api_key": "hunter-test-key-123"})
    provider.save()
    return provider


def test_it_stops_at_the_first_confident_answer(hunter, httpserver):
    body = json.loads((FIXTURES / "email_finder.json").read_text())
    httpserver.expect_request("/v2/email-finder").respond_with_json(body)
    ProviderFactory(slug="sandbox", adapter="sandbox")
    leads = _leads()
    run_provider_step(
        leads, mapping=MAPPING, fields=["email"], providers=["hunter", "sandbox"], min_confidence=50
    )
    assert leads[0].result["email_source"] == "hunter"
    assert leads[0].result["email"] == body["data"]["email"]
    assert not ProviderCall.objects.filter(provider__slug="sandbox").exists()


def test_it_falls_through_to_the_next_provider_and_drops_a_dead_one(hunter, httpserver):
    httpserver.expect_request("/v2/email-finder").respond_with_json(
        {"errors": [{"id": "authentication_failed", "code": 401, "details": "No user found"}]},
        status=401,
    )
    ProviderFactory(slug="sandbox", adapter="sandbox")
    leads = _leads(3)
    steps = run_provider_step(
        leads, mapping=MAPPING, fields=["email"], providers=["hunter", "sandbox"], min_confidence=50
    )
    assert [lead.result["email_source"] for lead in leads] == ["sandbox"] * 3
    assert "synthetic" in leads[0].result["email_reason"]
    assert leads[0].result["provider_errors"] == ["hunter: authentication/invalid_key"]
    assert steps[0].calls == 1  # not asked again for the other rows
    assert len(httpserver.log) == 1


def test_unknown_providers_are_refused():
    with pytest.raises(ValueError, match="unknown provider"):
        run_provider_step(_leads(), mapping=MAPPING, fields=["email"], providers=["ghost"])


def test_a_domain_search_teaches_enrich_the_domains_pattern(hunter, httpserver, tmp_path, settings):
    from io import StringIO

    from django.core.management import call_command

    from enrichment.models import DomainPattern

    settings.ENRICH_OFFLINE = False
    body = json.loads((FIXTURES / "domain_search.json").read_text())
    httpserver.expect_request("/v2/domain-search").respond_with_json(body)
    source = tmp_path / "in.csv"
    source.write_text("first_name,last_name,domain\nJane,Doe,stripe.com\nJohn,Roe,stripe.com\n")
    out = tmp_path / "out.csv"
    call_command(
        "enrich",
        str(source),
        "-o",
        str(out),
        "--providers",
        "hunter",
        "--fields",
        "title",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    # Hunter knows patrick@stripe.com for Patrick Collison: the {first} pattern.
    assert DomainPattern.objects.get(domain="stripe.com").top_pattern == "first"
    assert "jane@stripe.com" in out.read_text()
    searches = [r for r, _ in httpserver.log if r.path == "/v2/domain-search"]
    assert len(searches) == 1  # once per domain, not per row
