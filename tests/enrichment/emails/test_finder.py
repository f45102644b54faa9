"""The finder on real protocol servers: the learned pattern ranks, SMTP confirms."""

from __future__ import annotations

import pytest

from enrichment.emails.finder import FinderFailure, FinderRequest, find_email, find_emails
from enrichment.emails.names import parse_name_parts
from enrichment.emails.patterns import KnownEmail, learn_domain_patterns
from tests.support.dns_server import mail_zone
from tests.support.smtp_server import AcceptAll, KnownMailboxes

pytestmark = pytest.mark.integration

DOMAIN = "acme.example"


def _learned(*known: tuple[str, str, str]):
    return {DOMAIN: learn_domain_patterns([KnownEmail(e, first, last) for e, first, last in known])}


def test_it_guesses_the_prior_pattern_with_no_evidence(dns_server, make_resolver):
    resolver = make_resolver(dns_server(mail_zone(DOMAIN)))
    found = find_email(parse_name_parts("Jane", "Doe"), DOMAIN, resolver=resolver)
    assert found.email == "jane.doe@acme.example"
    assert found.pattern == "first.last"
    assert found.status in {"unknown", "risky"}  # unconfirmed guesses are never verified
    assert found.mx_status == "present"
    assert found.mx_host == "mx.acme.example"
    assert found.domain_pattern == ""


def test_one_known_address_switches_the_guess_to_its_pattern(dns_server, make_resolver):
    resolver = make_resolver(dns_server(mail_zone(DOMAIN)))
    patterns = _learned(("jsmith@acme.example", "John", "Smith"))
    found = find_email(
        parse_name_parts("Jane", "Doe"), DOMAIN, patterns=patterns, resolver=resolver
    )
    assert found.email == "jdoe@acme.example"
    assert found.domain_pattern == "flast"
    assert found.domain_pattern_support == 1
    assert {f["name"] for f in found.breakdown} >= {"syntax", "mx", "pattern"}
    assert sum(f["points"] for f in found.breakdown) == found.score


def test_smtp_picks_the_candidate_the_server_accepts(
    dns_server, make_resolver, smtp_server, make_prober
):
    resolver = make_resolver(dns_server(mail_zone(DOMAIN)))
    smtp = smtp_server(KnownMailboxes({"jdoe@acme.example"}))
    prober = make_prober(smtp, resolver)
    # No evidence: first.last ranks first, but only jdoe exists on the server.
    found = find_email(
        parse_name_parts("Jane", "Doe"), DOMAIN, resolver=resolver, prober=prober, smtp=True
    )
    assert found.email == "jdoe@acme.example"
    assert found.smtp == "accepted"
    assert found.status == "verified"
    assert found.catch_all is False
    assert "DATA" not in smtp.verbs()


def test_on_a_catch_all_domain_acceptance_proves_nothing(
    dns_server, make_resolver, smtp_server, make_prober
):
    resolver = make_resolver(dns_server(mail_zone(DOMAIN)))
    prober = make_prober(smtp_server(AcceptAll()), resolver)
    found = find_email(
        parse_name_parts("Jane", "Doe"), DOMAIN, resolver=resolver, prober=prober, smtp=True
    )
    assert found.catch_all is True
    assert found.email == "jane.doe@acme.example"  # the prior decides, not the server
    assert found.status != "verified"


def test_a_batch_looks_each_domain_up_once_and_reports_bad_rows(dns_server, make_resolver):
    server = dns_server(mail_zone(DOMAIN))
    resolver = make_resolver(server)
    firsts = ["Ann", "Ben", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon"] * 5
    requests = [FinderRequest(parse_name_parts(first, "Doe"), DOMAIN) for first in firsts]
    requests += [
        FinderRequest(parse_name_parts("Jane", "Doe"), "gmail.com"),
        FinderRequest(parse_name_parts("Jane", "Doe"), "not a domain"),
    ]
    results = find_emails(requests, resolver=resolver)
    assert all(r.email.endswith("@acme.example") for r in results[:50])
    assert isinstance(results[50], FinderFailure) and "webmail" in results[50].reason
    assert isinstance(results[51], FinderFailure) and "bad domain" in results[51].reason
    assert server.count("acme.example", "MX") == 1


def test_a_domain_without_mail_makes_every_guess_invalid(dns_server, make_resolver):
    resolver = make_resolver(dns_server({"nomail.example": {"MX": ["0 ."]}}))
    found = find_email(parse_name_parts("Jane", "Doe"), "nomail.example", resolver=resolver)
    assert found.status == "invalid"
    assert found.mx_status == "null"
