"""The sandbox's made-up answers never overrule what our own DNS and SMTP checks found, and
never teach a real domain's email pattern: `enrich --providers sandbox` over loopback DNS."""

from __future__ import annotations

import csv

import pytest

from enrichment.models import DomainPattern
from tests.factories import ProviderFactory
from tests.support.dns_server import DnsServer
from tests.support.manage import manage

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

HEADER = "first_name,last_name,domain\n"
ZONES = {
    "acme.test": {"MX": ["10 mx.acme.test."]},
    "nomail.test": {"MX": ["0 ."]},  # RFC 7505: accepts no mail at all
}


@pytest.fixture
def enrich(settings, tmp_path, monkeypatch, capsys):
    settings.ENRICH_OFFLINE = False
    ProviderFactory(slug="sandbox", adapter="sandbox")
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"

    def run(text: str, *extra: str) -> list[dict[str, str]]:
        source.write_text(text)
        with DnsServer(ZONES) as dns:
            settings.ENRICH_DNS_NAMESERVERS = [dns.nameserver]
            # --min-confidence 0: every sandbox answer would be taken if nothing stopped it.
            done = manage(
                monkeypatch, capsys, "enrich", str(source), "-o", str(out),
                "--providers", "sandbox", "--min-confidence", "0", *extra,
            )  # fmt: skip
        assert done.status == 0, done.err
        return list(csv.DictReader(out.open()))

    return run


def test_a_sandbox_valid_never_overrides_a_real_dns_verdict(enrich):
    found = enrich(f"{HEADER}John,Roe,nomail.test\nJane,Doe,acme.test\n")
    rows = {row["domain"]: row for row in found}

    # The null MX makes the guess invalid; the sandbox's "valid" for it is not taken.
    assert rows["nomail.test"]["email_status"] == "invalid"
    assert rows["nomail.test"]["email_source"] == "pattern"
    # An address only DNS could check stays unconfirmed: made-up data cannot verify it.
    assert rows["acme.test"]["email_source"] == "pattern"
    assert rows["acme.test"]["email_status"] != "verified"


def test_the_sandbox_fills_an_email_only_where_nothing_was_checked(enrich):
    # No domain, so our checks had nothing to say; the sandbox's answer is used, labelled.
    (row,) = enrich("first_name,last_name,company_name\nAnn,Poe,Acme\n")
    assert row["email_source"] == "sandbox"
    assert "(synthetic data)" in row["email_reason"]


def test_sandbox_addresses_never_teach_a_real_domains_pattern(enrich):
    (row,) = enrich(f"{HEADER}Jane,Doe,acme.test\n")

    assert "prior (no known address at the domain)" in row["email_reason"]
    learned = DomainPattern.objects.filter(domain="acme.test").first()
    assert learned is None or learned.support == 0
