"""SMTP RCPT probing against loopback aiosmtpd servers, and reply classification."""

from __future__ import annotations

import string
import threading
import uuid

import pytest
from django.core.cache import cache as default_cache

from enrichment.emails.mx import MxResult, MxStatus
from enrichment.emails.smtp import SmtpProber, random_local_parts
from enrichment.emails.smtp_replies import (
    RcptOutcome,
    RcptReason,
    accepts_all_provider_for,
    classify_reply,
    greylist_retry_delay,
    parse_enhanced_code,
)
from tests.support.dns_server import mail_zone
from tests.support.smtp_server import (
    AcceptAll,
    BlockSender,
    DropAfterRcpt,
    Greylist,
    HeloOnly,
    KnownMailboxes,
    Microsoft365Like,
    Slow,
)

DOMAIN = "acme.test"
JANE, BOB = "jane@acme.test", "bob@acme.test"
M365_MX = "acme-test.mail.protection.outlook.com"


@pytest.fixture
def setup(dns_server, smtp_server, make_resolver, make_prober):
    """``setup(handler, zone=...)`` -> (prober, smtp server, MX result of acme.test)."""

    def start(handler, zone=None, **prober_kwargs):
        dns = dns_server(zone or mail_zone(DOMAIN))
        smtp = smtp_server(handler)
        resolver = make_resolver(dns)
        prober = make_prober(smtp, resolver, **prober_kwargs)
        return prober, smtp, resolver.resolve(DOMAIN)

    return start


def random_rcpts(domain: str = DOMAIN) -> list[str]:
    return [f"{local}@{domain}" for local in random_local_parts(domain)]


# --- reading replies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.1.1 No such user", "5.1.1"),
        ("5.1.10 RESOLVER.ADR.RecipientNotFound", "5.1.10"),
        ("  4.7.1 Greylisted", "4.7.1"),
        ("2.1.5 OK", "2.1.5"),
        ("No such user", None),
        ("5.1 incomplete", None),
        ("", None),
        ("550 5.1.1 code repeated in text", None),
    ],
)
def test_it_parses_the_enhanced_status_code_opening_a_reply(text, expected):
    assert parse_enhanced_code(text) == expected


@pytest.mark.parametrize(
    ("code", "text", "outcome", "reason"),
    [
        (250, "2.1.5 OK", RcptOutcome.ACCEPTED, RcptReason.MAILBOX_EXISTS),
        (251, "User not local; will forward", RcptOutcome.ACCEPTED, RcptReason.MAILBOX_EXISTS),
        (
            550,
            "5.1.1 <x@acme.test>: user unknown",
            RcptOutcome.REJECTED,
            RcptReason.MAILBOX_UNKNOWN,
        ),
        (550, "5.1.0 Address rejected", RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN),
        (550, "5.1.10 RecipientNotFound", RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN),
        (553, "5.1.1 Mailbox name not allowed", RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN),
        (551, "5.1.1 User not local", RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN),
        (550, "5.2.1 Mailbox disabled", RcptOutcome.REJECTED, RcptReason.MAILBOX_DISABLED),
        (552, "5.2.2 Mailbox full", RcptOutcome.ACCEPTED, RcptReason.MAILBOX_FULL),
        (552, "Quota exceeded", RcptOutcome.ACCEPTED, RcptReason.MAILBOX_FULL),
        (550, "5.7.1 Client host blocked", RcptOutcome.UNKNOWN, RcptReason.POLICY),
        (554, "5.7.1 Relay access denied", RcptOutcome.UNKNOWN, RcptReason.POLICY),
        (554, "Transaction failed", RcptOutcome.UNKNOWN, RcptReason.POLICY),
        (550, "5.4.1 Recipient address rejected", RcptOutcome.UNKNOWN, RcptReason.PROTOCOL),
        (550, "5.1.8 Bad sender's system address", RcptOutcome.UNKNOWN, RcptReason.POLICY),
        (451, "4.7.1 Greylisted", RcptOutcome.UNKNOWN, RcptReason.TEMPORARY),
        (450, "4.2.0 Mailbox busy", RcptOutcome.UNKNOWN, RcptReason.TEMPORARY),
        (452, "4.5.3 Too many recipients", RcptOutcome.UNKNOWN, RcptReason.TEMPORARY),
        (421, "4.3.2 Service shutting down", RcptOutcome.UNKNOWN, RcptReason.TEMPORARY),
        (550, "Mailbox unavailable", RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN),
        (252, "Cannot verify user", RcptOutcome.UNKNOWN, RcptReason.PROTOCOL),
    ],
)
def test_it_reads_replies_by_their_codes(code, text, outcome, reason):
    result = classify_reply(code, text)
    assert (result.outcome, result.reason) == (outcome, reason)
    assert result.code == code


def test_it_ignores_the_english_text():
    # The words say "user unknown", the codes say "blocked by policy": the codes win.
    assert classify_reply(550, "5.7.1 User unknown").outcome == RcptOutcome.UNKNOWN
    # The words say "blocked", the codes say "no such mailbox".
    assert classify_reply(550, "5.1.1 Blocked").outcome == RcptOutcome.REJECTED


def test_an_enhanced_code_of_another_class_is_ignored():
    result = classify_reply(550, "4.1.1 mismatched classes")
    assert result.enhanced_code is None
    assert result.outcome == RcptOutcome.REJECTED


def test_temporary_replies_carry_the_policy_delay_not_the_servers_words():
    result = classify_reply(451, "4.7.1 Greylisted, try again in 60 seconds")
    assert result.retry_after == 300
    assert classify_reply(550, "5.1.1 unknown").retry_after is None


def test_microsoft_365_5_4_1_means_no_such_mailbox():
    result = classify_reply(
        550, "5.4.1 Recipient address rejected: Access denied", provider="Microsoft 365"
    )
    assert (result.outcome, result.reason) == (RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN)


def test_greylist_retry_delay_doubles_up_to_an_hour():
    assert [greylist_retry_delay(n) for n in range(7)] == [300, 600, 1200, 2400, 3600, 3600, 3600]
    assert greylist_retry_delay(10_000) == 3600
    with pytest.raises(ValueError, match="attempt"):
        greylist_retry_delay(-1)


def test_random_local_parts_are_distinct_random_looking_and_stable_for_the_day():
    first = random_local_parts("acme.test")
    assert len(first) == 2
    assert len(set(first)) == 2
    for local in first:
        assert 12 <= len(local) <= 16
        assert set(local) <= set(string.ascii_lowercase + string.digits)
        assert local[0] in string.ascii_lowercase
    assert random_local_parts("acme.test") == first
    assert random_local_parts("other.test") != first


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("acme-com.mail.protection.outlook.com", "Microsoft 365"),
        ("mta5.am0.yahoodns.net", "Yahoo"),
        ("aspmx.l.google.com", None),
        ("mx.acme.test", None),
    ],
)
def test_it_recognises_providers_that_accept_every_rcpt(host, provider):
    mx = MxResult("acme.test", MxStatus.PRESENT, (host,))
    assert accepts_all_provider_for(mx) == provider


# --- conversations ------------------------------------------------------------------------


@pytest.mark.integration
def test_it_accepts_known_and_rejects_unknown_mailboxes_on_one_connection(setup):
    handler = KnownMailboxes({JANE}, full={"full@acme.test"}, disabled={"gone@acme.test"})
    prober, smtp, mx = setup(handler)
    probe = prober.probe(DOMAIN, [JANE, BOB, "full@acme.test", "gone@acme.test"], mx)

    assert probe.catch_all is False
    assert probe.catch_all_probability == 0.02
    assert probe.mx_host == "mx.acme.test"
    outcomes = {
        email: (r.outcome, r.reason, r.code, r.enhanced_code) for email, r in probe.results.items()
    }
    assert outcomes == {
        JANE: (RcptOutcome.ACCEPTED, RcptReason.MAILBOX_EXISTS, 250, "2.1.5"),
        BOB: (RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN, 550, "5.1.1"),
        "full@acme.test": (RcptOutcome.ACCEPTED, RcptReason.MAILBOX_FULL, 552, "5.2.2"),
        "gone@acme.test": (RcptOutcome.REJECTED, RcptReason.MAILBOX_DISABLED, 550, "5.2.1"),
    }
    assert smtp.connections == 1
    assert smtp.verbs() == ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "RCPT", "RCPT", "RCPT", "QUIT"]
    # Catch-all probes first, then the candidates.
    assert smtp.rcpts() == random_rcpts() + [JANE, BOB, "full@acme.test", "gone@acme.test"]
    assert ("MAIL", "FROM:<verify@localhost>") in smtp.commands


@pytest.mark.integration
def test_it_calls_a_domain_catch_all_when_both_random_addresses_are_accepted(setup):
    prober, smtp, mx = setup(AcceptAll())
    probe = prober.probe(DOMAIN, [JANE, BOB], mx)

    assert probe.catch_all is True
    assert probe.catch_all_probability == 0.95
    assert probe.accepts_all_provider is False
    assert {r.outcome for r in probe.results.values()} == {RcptOutcome.UNKNOWN}
    assert {r.reason for r in probe.results.values()} == {RcptReason.CATCH_ALL}
    # Once known catch-all, the candidates are not even asked.
    assert smtp.rcpts() == random_rcpts()
    assert "DATA" not in smtp.verbs()


@pytest.mark.integration
def test_one_random_address_accepted_is_not_enough_to_call_catch_all(setup, email_cache):
    # A server that happens to know one of the random addresses (or accepts at random).
    prober, smtp, mx = setup(KnownMailboxes({JANE, random_rcpts()[0]}))
    probe = prober.probe(DOMAIN, [JANE, BOB], mx)

    assert probe.catch_all is None
    assert probe.catch_all_probability == 0.5
    assert probe.reason == "catch-all test inconsistent"
    # Inconclusive: the candidates are still asked, and the verdict is not cached.
    assert probe.results[JANE].outcome == RcptOutcome.ACCEPTED
    assert probe.results[BOB].outcome == RcptOutcome.REJECTED
    assert email_cache.get("smtp:catchall:v1:acme.test") is None


@pytest.mark.integration
def test_it_stops_probing_a_known_catch_all_domain(setup, email_cache):
    prober, smtp, mx = setup(AcceptAll())
    prober.probe(DOMAIN, [JANE], mx)
    again = prober.probe(DOMAIN, [BOB, "carol@acme.test"], mx)

    assert again.catch_all is True
    assert set(again.results) == {BOB, "carol@acme.test"}
    assert smtp.connections == 1
    assert email_cache.get("smtp:catchall:v1:acme.test")["catch_all"] is True


@pytest.mark.integration
def test_it_caches_answers_per_address(setup, email_cache):
    prober, smtp, mx = setup(KnownMailboxes({JANE}))
    prober.probe(DOMAIN, [JANE, BOB], mx)
    again = prober.probe(DOMAIN, [JANE, BOB], mx)

    assert again.results[JANE].outcome == RcptOutcome.ACCEPTED
    assert again.results[BOB].outcome == RcptOutcome.REJECTED
    assert again.catch_all is False  # from the cached verdict
    assert smtp.connections == 1
    assert email_cache.get(f"smtp:rcpt:v1:{JANE}")["outcome"] == "accepted"


@pytest.mark.integration
def test_only_new_addresses_are_probed_on_a_known_domain(setup):
    prober, smtp, mx = setup(KnownMailboxes({JANE, "carol@acme.test"}))
    prober.probe(DOMAIN, [JANE], mx)
    probe = prober.probe(DOMAIN, [JANE, "carol@acme.test"], mx)

    assert probe.results["carol@acme.test"].outcome == RcptOutcome.ACCEPTED
    # Second conversation: no random probes (verdict cached), only the new address.
    assert smtp.rcpts() == random_rcpts() + [JANE, "carol@acme.test"]


@pytest.mark.integration
def test_greylisting_gives_unknown_with_retry_after_then_passes_on_retry(setup):
    prober, smtp, mx = setup(Greylist(KnownMailboxes({JANE})))
    first = prober.probe(DOMAIN, [JANE, BOB], mx)

    assert first.catch_all is None
    for result in first.results.values():
        assert (result.outcome, result.reason) == (RcptOutcome.UNKNOWN, RcptReason.TEMPORARY)
        assert (result.code, result.enhanced_code, result.retry_after) == (451, "4.7.1", 300)

    # The retry (a Celery countdown in production) asks the same random addresses, which the
    # greylist now lets through, so the catch-all test completes too.
    second = prober.probe(DOMAIN, [JANE, BOB], mx)
    assert second.catch_all is False
    assert second.results[JANE].outcome == RcptOutcome.ACCEPTED
    assert second.results[BOB].outcome == RcptOutcome.REJECTED
    assert smtp.connections == 2


@pytest.mark.integration
def test_a_dropped_connection_is_unknown(setup):
    prober, smtp, mx = setup(DropAfterRcpt(after=0))
    probe = prober.probe(DOMAIN, [JANE, BOB], mx)

    assert probe.catch_all is None
    for result in probe.results.values():
        assert (result.outcome, result.reason) == (RcptOutcome.UNKNOWN, RcptReason.CONNECTION)
        assert result.message == "connection dropped"
        assert result.retry_after is None


@pytest.mark.integration
def test_answers_given_before_a_drop_are_kept(setup):
    # Two random probes and JANE are answered, then the server hangs up on BOB.
    prober, smtp, mx = setup(DropAfterRcpt(KnownMailboxes({JANE}), after=3))
    probe = prober.probe(DOMAIN, [JANE, BOB, "carol@acme.test"], mx)

    assert probe.catch_all is False
    assert probe.results[JANE].outcome == RcptOutcome.ACCEPTED
    assert probe.results[BOB].reason == RcptReason.CONNECTION
    assert probe.results["carol@acme.test"].reason == RcptReason.CONNECTION


@pytest.mark.integration
def test_microsoft_365_accepting_random_addresses_is_not_catch_all(setup):
    prober, smtp, mx = setup(Microsoft365Like(), zone=mail_zone(DOMAIN, M365_MX))
    probe = prober.probe(DOMAIN, [JANE, BOB], mx)

    assert probe.catch_all is None
    assert probe.catch_all_probability is None
    assert probe.accepts_all_provider is True
    assert probe.provider == "Microsoft 365"
    assert probe.reason == "provider accepts all RCPT (Microsoft 365)"
    for result in probe.results.values():
        assert (result.outcome, result.reason) == (
            RcptOutcome.UNKNOWN,
            RcptReason.PROVIDER_ACCEPTS_ALL,
        )
        assert result.code == 250
    assert smtp.rcpts() == random_rcpts() + [JANE, BOB]


@pytest.mark.integration
def test_microsoft_365_with_edge_blocking_tells_mailboxes_apart(setup):
    prober, smtp, mx = setup(Microsoft365Like({JANE}), zone=mail_zone(DOMAIN, M365_MX))
    probe = prober.probe(DOMAIN, [JANE, BOB], mx)

    assert probe.catch_all is False
    assert probe.accepts_all_provider is False
    assert probe.results[JANE].outcome == RcptOutcome.ACCEPTED
    assert probe.results[BOB].outcome == RcptOutcome.REJECTED
    assert probe.results[BOB].enhanced_code == "5.4.1"


@pytest.mark.integration
def test_a_blocked_sender_is_unknown_never_rejected(setup):
    prober, smtp, mx = setup(BlockSender())
    probe = prober.probe(DOMAIN, [JANE, BOB], mx)

    for result in probe.results.values():
        assert (result.outcome, result.reason) == (RcptOutcome.UNKNOWN, RcptReason.POLICY)
        assert (result.code, result.enhanced_code) == (550, "5.7.1")
    assert "RCPT" not in smtp.verbs()


@pytest.mark.integration
def test_it_falls_back_to_helo_when_ehlo_is_refused(setup):
    prober, smtp, mx = setup(HeloOnly(KnownMailboxes({JANE})))
    probe = prober.probe(DOMAIN, [JANE, BOB], mx)

    assert probe.results[JANE].outcome == RcptOutcome.ACCEPTED
    assert probe.results[BOB].outcome == RcptOutcome.REJECTED
    assert smtp.verbs()[:3] == ["EHLO", "HELO", "MAIL"]


@pytest.mark.integration
def test_it_falls_back_to_the_next_mx_when_the_best_refuses_connections(setup):
    zone = {
        DOMAIN: {"MX": ["10 down.acme.test.", "20 up.acme.test."]},
        # Linux routes all of 127/8 to loopback; nothing listens on .2, so it refuses.
        "down.acme.test": {"A": ["127.0.0.2"]},
        "up.acme.test": {"A": ["127.0.0.1"]},
    }
    prober, smtp, mx = setup(KnownMailboxes({JANE}), zone=zone)
    probe = prober.probe(DOMAIN, [JANE], mx)

    assert probe.mx_host == "up.acme.test"
    assert probe.results[JANE].outcome == RcptOutcome.ACCEPTED


@pytest.mark.integration
def test_no_reachable_mx_is_unknown(setup):
    prober, smtp, mx = setup(AcceptAll(), zone=mail_zone(DOMAIN, address="127.0.0.2"))
    probe = prober.probe(DOMAIN, [JANE], mx)

    result = probe.results[JANE]
    assert (result.outcome, result.reason) == (RcptOutcome.UNKNOWN, RcptReason.CONNECTION)
    assert probe.mx_host is None
    assert smtp.connections == 0


@pytest.mark.integration
def test_offline_probes_nothing(setup):
    prober, smtp, mx = setup(AcceptAll(), offline=True)
    probe = prober.probe(DOMAIN, [JANE], mx)

    assert probe.results[JANE].reason == RcptReason.OFFLINE
    assert smtp.connections == 0


@pytest.mark.integration
def test_a_domain_without_mail_host_is_not_probed(setup):
    prober, smtp, _ = setup(AcceptAll())
    probe = prober.probe(DOMAIN, [JANE], MxResult(DOMAIN, MxStatus.NULL))

    assert probe.results[JANE].reason == RcptReason.NO_MX
    assert smtp.connections == 0


@pytest.mark.integration
def test_connections_to_one_host_are_limited(dns_server, smtp_server, make_resolver, make_prober):
    # Eight domains on one MX host, probed from eight threads; each RCPT takes a while, so
    # without the limit the sessions would overlap.
    domains = [f"d{i}.test" for i in range(8)]
    zone = {d: {"MX": ["10 mx.shared.test."]} for d in domains}
    zone["mx.shared.test"] = {"A": ["127.0.0.1"]}
    smtp = smtp_server(Slow(KnownMailboxes(set()), delay=0.05))
    resolver = make_resolver(dns_server(zone))
    prober = make_prober(smtp, resolver, per_host_limit=2)
    mx = resolver.resolve_many(domains)

    threads = [threading.Thread(target=prober.probe, args=(d, [f"x@{d}"], mx[d])) for d in domains]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert smtp.connections == 8
    assert 1 <= smtp.max_concurrent <= 2


@pytest.mark.integration
def test_defaults_come_from_settings(dns_server, smtp_server, make_resolver, settings):
    settings.ENRICH_SMTP_PORT = 0  # replaced below: the server's port is only known now
    settings.ENRICH_SMTP_HELO = "probe.example.org"
    settings.ENRICH_SMTP_FROM = ""
    settings.ENRICH_OFFLINE = False
    smtp = smtp_server(KnownMailboxes({JANE}))
    settings.ENRICH_SMTP_PORT = smtp.port
    # A domain no other test uses: the default cache may be the Redis shared by other suites.
    domain = f"d{uuid.uuid4().hex[:12]}.test"
    resolver = make_resolver(dns_server(mail_zone(domain)))
    prober = SmtpProber(resolver=resolver, host_pause=0)
    email = f"jane@{domain}"
    try:
        probe = prober.probe(domain, [email], resolver.resolve(domain))
        assert probe.results[email].outcome == RcptOutcome.REJECTED
        assert smtp.commands[:2] == [
            ("EHLO", "probe.example.org"),
            ("MAIL", "FROM:<verify@probe.example.org>"),
        ]
        assert default_cache.get(f"smtp:catchall:v1:{domain}")["catch_all"] is False
    finally:
        default_cache.delete_many([f"smtp:catchall:v1:{domain}", f"smtp:rcpt:v1:{email}"])
