"""The bulk verification pipeline against loopback DNS (and SMTP) servers.

Domains end in .io and .com, not .test: syntax checking (email-validator) refuses the
special-use names, as it should for real input. The loopback DNS server answers for them.
"""

from __future__ import annotations

import pytest

from enrichment.emails.smtp import random_local_parts
from enrichment.emails.verify import VerificationResult, verify_emails
from tests.support.dns_server import mail_zone
from tests.support.smtp_server import AcceptAll, KnownMailboxes

ZONES = {
    **mail_zone("acme.io"),
    **mail_zone("catchall.io"),
    "a-only.io": {"A": ["93.184.216.34"]},
    "nomail.io": {"MX": ["0 ."]},
    "gmail.com": {"MX": ["5 gmail-smtp-in.l.google.com."]},
    "mailinator.com": {"MX": ["10 mail.mailinator.com."]},
}
SLOW = "slow.io"


@pytest.fixture
def dns(dns_server):
    return dns_server(ZONES, drop={SLOW})


def by_email(results: list[VerificationResult]) -> dict[str, VerificationResult]:
    return {r.email: r for r in results}


@pytest.mark.integration
def test_it_verifies_every_row_in_order(dns, make_resolver):
    rows = [
        "jane.doe@acme.io",
        "not an email",
        "bob@a-only.io",
        "x@nomail.io",
        "y@does-not-exist.io",
        "z@slow.io",
    ]
    results = list(verify_emails(rows, resolver=make_resolver(dns, timeout=0.3)))

    assert [r.email for r in results] == rows
    summary = [(r.status, r.mx_status, r.mx_host) for r in results]
    assert summary == [
        ("unknown", "present", "mx.acme.io"),
        ("invalid", None, None),
        ("risky", "implicit", "a-only.io"),
        ("invalid", "null", None),
        ("invalid", "none", None),
        ("unknown", "unknown", None),
    ]
    # Scores add up from their factors, and say why.
    for result in results:
        assert sum(f["points"] for f in result.breakdown) == result.score
    # 50 for a valid address, +10 MX present, -5 A record only, 0 when DNS said nothing.
    assert [results[0].score, results[2].score, results[5].score] == [60, 45, 50]
    assert "null MX" in results[3].reason
    assert "NXDOMAIN" in results[4].reason
    assert "DNS timeout" in results[5].reason


@pytest.mark.integration
def test_bad_rows_are_invalid_with_a_reason_and_never_raise(dns, make_resolver):
    rows = ["", "@acme.io", "jane@", "jane@@acme.io", None, 42, "jane doe@acme.io"]
    results = list(verify_emails(rows, resolver=make_resolver(dns)))

    assert len(results) == len(rows)
    assert {r.status for r in results} == {"invalid"}
    assert all(r.reason for r in results)
    assert results[4].email == "None"
    assert results[4].reason == "not text (NoneType)"
    assert dns.queries == 0


@pytest.mark.integration
def test_it_looks_each_domain_up_once(dns, make_resolver):
    rows = [f"person{i}@acme.io" for i in range(300)] + [f"person{i}@A-Only.io" for i in range(200)]
    results = list(verify_emails(rows, resolver=make_resolver(dns)))

    assert len(results) == 500
    assert dns.count("acme.io", "MX") == 1
    assert dns.count("a-only.io", "MX") == 1
    assert dns.count("a-only.io", "A") == 1


@pytest.mark.integration
def test_it_flags_free_disposable_and_role_addresses(dns, make_resolver):
    rows = ["someone@gmail.com", "temp@mailinator.com", "info@acme.io"]
    results = by_email(list(verify_emails(rows, resolver=make_resolver(dns))))

    gmail = results["someone@gmail.com"]
    assert (gmail.free_mail, gmail.disposable, gmail.role) == (True, False, False)
    temp = results["temp@mailinator.com"]
    assert (temp.disposable, temp.status) == (True, "risky")
    info = results["info@acme.io"]
    assert (info.role, info.free_mail) == (True, False)


@pytest.mark.integration
def test_it_reports_progress(dns, make_resolver):
    calls: list[tuple[int, int | None]] = []
    rows = ["a@acme.io", "b@acme.io", "c@acme.io"]
    list(
        verify_emails(rows, resolver=make_resolver(dns), progress=lambda d, t: calls.append((d, t)))
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]

    calls.clear()
    list(
        verify_emails(
            iter(rows),
            resolver=make_resolver(dns),
            progress=lambda d, t: calls.append((d, t)),
            chunk_size=2,
        )
    )
    assert calls == [(1, None), (2, None), (3, None)]


@pytest.mark.integration
def test_offline_verifies_syntax_only(dns, email_cache):
    from enrichment.emails.mx import MxResolver

    resolver = MxResolver(nameservers=[dns.nameserver], offline=True, cache=email_cache)
    [result] = verify_emails(["jane@acme.io"], resolver=resolver)

    assert (result.status, result.mx_status) == ("unknown", "unknown")
    assert "offline" in result.reason
    assert dns.queries == 0


@pytest.mark.integration
def test_smtp_verifies_mailboxes_one_connection_per_domain(
    dns, smtp_server, make_resolver, make_prober
):
    smtp = smtp_server(KnownMailboxes({"jane@acme.io"}))
    resolver = make_resolver(dns)
    prober = make_prober(smtp, resolver)
    rows = ["Jane@acme.io", "bob@acme.io", "x@nomail.io"]
    results = list(verify_emails(rows, smtp=True, resolver=resolver, prober=prober))

    jane, bob, nomail = results
    assert (jane.status, jane.smtp, jane.catch_all) == ("verified", "accepted", False)
    assert jane.score >= 80
    assert (bob.status, bob.smtp, bob.score) == ("invalid", "rejected", 0)
    assert (nomail.status, nomail.smtp) == ("invalid", None)
    assert smtp.connections == 1
    randoms = [f"{local}@acme.io" for local in random_local_parts("acme.io")]
    assert smtp.rcpts() == randoms + ["jane@acme.io", "bob@acme.io"]
    assert "DATA" not in smtp.verbs()


@pytest.mark.integration
def test_smtp_on_a_catch_all_domain_is_not_verified(dns, smtp_server, make_resolver, make_prober):
    smtp = smtp_server(AcceptAll())
    resolver = make_resolver(dns)
    rows = ["jane@catchall.io", "bob@catchall.io"]
    results = list(
        verify_emails(rows, smtp=True, resolver=resolver, prober=make_prober(smtp, resolver))
    )

    for result in results:
        assert result.catch_all is True
        assert result.smtp == "unknown"
        assert result.status != "verified"
