"""The no-code provider as an admin uses it: configured in the admin or imported from a JSON
file, checked with `providers test`, then asked by `enrich --providers SLUG`, all against a
loopback HTTP server (and a loopback DNS server for the email step's MX look-ups)."""

from __future__ import annotations

import csv
import json
import re
import uuid
from typing import Any

import pytest
from django.contrib.messages import get_messages

from providers.models import Provider
from tests.support.dns_server import DnsServer
from tests.support.manage import manage

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

KEY = "gk_live_7d1e0c9b8a6f5e4d"
#: A people API answering Hunter-style: the email, a 0-100 score and a verdict.
CONFIG: dict[str, Any] = {
    "auth": {"type": "api_key_header", "header": "X-Api-Key"},
    "operations": {
        "find_email": {
            "method": "GET",
            "path": "/people/email",
            "query": {"domain": "{domain}", "first": "{first_name}", "last": "{last_name}"},
            "mapping": {
                "email": "$.person.email",
                "title": "$.person.role",
                "email_status": "$.person.verdict",
            },
            "confidence_path": "$.person.score",
            "found_path": "$.person.email",
            "transforms": {"email": "lower", "*": "strip"},
            "cost": "0.02",
        }
    },
}


def answer(request: Any) -> Any:
    from werkzeug import Response

    first, last, domain = (request.args[k] for k in ("first", "last", "domain"))
    body = {
        "person": {
            "email": f"{first}.{last}@{domain}".upper(),
            "role": " Head of  Sales ",
            "verdict": "deliverable",
            "score": 97,
        }
    }
    return Response(json.dumps(body), content_type="application/json")


@pytest.fixture(autouse=True)
def _online(settings):
    settings.ENRICH_OFFLINE = False
    settings.ENRICH_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def people_api(httpserver):
    httpserver.expect_request("/api/people/email", headers={"X-Api-Key": KEY}).respond_with_handler(
        answer
    )
    return httpserver


@pytest.fixture
def slug() -> str:
    return f"people-{uuid.uuid4().hex[:8]}"


def test_an_admin_configures_it_in_the_admin_and_tests_it(alice_client, people_api, slug):
    response = alice_client.post(
        "/admin/providers/provider/add/",
        {
            "slug": slug,
            "name": "People API",
            "kind": "generic",
            "adapter": "generic",
            "base_url": people_api.url_for("/api"),
            "enabled": "on",
            "priority": "100",
            "concurrency": "4",
            "timeout_seconds": "5",
            "price_per_call": "0",
            "operation_prices": "{}",
            "config": json.dumps(CONFIG),
            "new_credentials": json.dumps({"api_key": KEY}),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = Provider.objects.get(slug=slug)
    assert provider.get_credentials() == {"api_key": KEY}

    response = alice_client.post(
        "/admin/providers/provider/",
        {"action": "test_connection", "_selected_action": [provider.pk]},
        follow=True,
    )

    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(f"{slug} find_email: found" in m and "email" in m for m in shown), shown
    assert KEY not in response.content.decode()
    assert len(people_api.log) == 1


def test_an_imported_provider_is_tested_and_used_by_enrich(
    people_api, slug, tmp_path, settings, monkeypatch, capsys
):
    exported = tmp_path / "providers.json"
    exported.write_text(
        json.dumps(
            {
                "version": 1,
                "providers": [
                    {
                        "slug": slug,
                        "name": "People API",
                        "kind": "generic",
                        "adapter": "generic",
                        "base_url": people_api.url_for("/api"),
                        "config": CONFIG,
                    }
                ],
            }
        )
    )
    run = manage(monkeypatch, capsys, "providers", "import", str(exported))
    assert run.status == 0, run.err
    assert "1 created" in run.out
    # Credentials are never imported: the admin sets them afterwards.
    provider = Provider.objects.get(slug=slug)
    provider.set_credentials({"api_key": KEY})
    provider.save()

    run = manage(monkeypatch, capsys, "providers", "test", slug)
    assert run.status == 0, run.err
    first, *fields = run.out.splitlines()
    assert re.match(rf"{slug} \(generic\) find_email: found in \d+ ms$", first)
    assert any(re.match(r"\s+email\s+patrick\.collison@stripe\.com\s+\(97\)", f) for f in fields)
    assert any(re.match(r"\s+title\s+Head of Sales\s+\(97\)", f) for f in fields)
    assert any(re.match(r"\s+email_status\s+valid\s+\(97\)", f) for f in fields)

    with DnsServer({"acme.test": {"MX": ["10 mx.acme.test."]}}) as dns:
        settings.ENRICH_DNS_NAMESERVERS = [dns.nameserver]
        source, out = tmp_path / "in.csv", tmp_path / "out.csv"
        source.write_text("first_name,last_name,domain\nJane,Doe,acme.test\n")
        run = manage(
            monkeypatch,
            capsys,
            "enrich",
            str(source),
            "-o",
            str(out),
            "--providers",
            slug,
            "--fields",
            "email,title",
        )
    assert run.status == 0, run.err
    (row,) = csv.DictReader(out.open())
    assert row["email"] == "jane.doe@acme.test"
    assert row["email_source"] == slug
    assert row["email_status"] == "verified"
    assert row["title"] == "Head of Sales"
    assert KEY not in run.out + run.err + out.read_text()
    # One call for the test, one for the row (email and title come from the same answer).
    assert len(people_api.log) == 2
