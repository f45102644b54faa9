"""MX verification against a loopback DNS server (and the pure helpers without one)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache as default_cache
from django.core.cache.backends.locmem import LocMemCache

from enrichment.emails.mx import (
    TTL_NEGATIVE,
    TTL_POSITIVE,
    TTL_UNKNOWN,
    MxResolver,
    MxResult,
    MxStatus,
    parse_nameserver,
)

ZONES = {
    "acme.test": {"MX": ["20 mx2.acme.test.", "10 mx1.acme.test.", "20 backup.acme.test."]},
    "mx1.acme.test": {"A": ["127.0.0.1"]},
    "a-only.test": {"A": ["93.184.216.34"]},
    "v6-only.test": {"AAAA": ["2001:db8::1"]},
    "nomail.test": {"MX": ["0 ."]},
    "mixed-null.test": {"MX": ["0 .", "10 mx.mixed-null.test."]},
    "txt-only.test": {"TXT": ['"v=spf1 -all"']},
}
SLOW = "slow.test"
BROKEN = "broken.test"


class RecordingCache(LocMemCache):
    """A LocMem cache that records what reaches the backend."""

    def __init__(self) -> None:
        super().__init__(f"rec-{uuid.uuid4().hex}", {"TIMEOUT": None})
        self.reads = 0
        self.writes: dict[str, Any] = {}

    def get_many(self, keys: Any, version: int | None = None) -> dict[str, Any]:
        self.reads += 1
        return super().get_many(keys, version=version)

    def set_many(self, data: dict[str, Any], timeout: Any = None, version: Any = None) -> list:
        for key in data:
            self.writes[key] = timeout
        return super().set_many(data, timeout=timeout, version=version)


@pytest.fixture
def server(dns_server):
    return dns_server(ZONES, drop={SLOW}, servfail={BROKEN})


# --- pure helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address", "port"),
    [
        ("10.0.0.53", "10.0.0.53", 53),
        ("127.0.0.1:5353", "127.0.0.1", 5353),
        ("::1", "::1", 53),
        ("[::1]:5353", "::1", 5353),
    ],
)
def test_it_parses_host_and_port_nameservers(text, address, port):
    nameserver = parse_nameserver(text)
    assert (nameserver.address, nameserver.port) == (address, port)


@pytest.mark.parametrize("text", ["dns.example.com", "127.0.0.1:dns", "127.0.0.1:70000", "[::1"])
def test_it_refuses_bad_nameservers(text):
    with pytest.raises(ValueError, match="Bad nameserver"):
        parse_nameserver(text)


def test_cache_form_round_trips():
    result = MxResult(
        "acme.test",
        MxStatus.PRESENT,
        ("mx1.acme.test", "mx2.acme.test"),
        "MX mx1.acme.test",
        datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert MxResult.from_cache(result.to_cache()) == result
    assert result.best == "mx1.acme.test"
    assert result.accepts_mail


# --- statuses -----------------------------------------------------------------------------


@pytest.mark.integration
def test_it_lists_mx_hosts_by_preference(server, make_resolver):
    result = make_resolver(server).resolve("acme.test")
    assert result.status == MxStatus.PRESENT
    assert result.hosts == ("mx1.acme.test", "backup.acme.test", "mx2.acme.test")
    assert result.best == "mx1.acme.test"
    assert result.domain == "acme.test"


@pytest.mark.integration
@pytest.mark.parametrize("domain", ["a-only.test", "v6-only.test"])
def test_it_uses_an_address_record_as_implicit_mx(server, make_resolver, domain):
    result = make_resolver(server).resolve(domain)
    assert result.status == MxStatus.IMPLICIT
    assert result.hosts == (domain,)


@pytest.mark.integration
def test_it_reports_null_mx(server, make_resolver):
    result = make_resolver(server).resolve("nomail.test")
    assert result.status == MxStatus.NULL
    assert result.hosts == ()
    assert not result.accepts_mail


@pytest.mark.integration
def test_it_ignores_a_null_mx_next_to_real_hosts(server, make_resolver):
    result = make_resolver(server).resolve("mixed-null.test")
    assert result.status == MxStatus.PRESENT
    assert result.hosts == ("mx.mixed-null.test",)


@pytest.mark.integration
def test_it_reports_none_for_a_domain_that_does_not_exist(server, make_resolver):
    result = make_resolver(server).resolve("no-such-domain.test")
    assert result.status == MxStatus.NONE
    assert "NXDOMAIN" in result.reason
    # NXDOMAIN on MX proves the name is gone: no A/AAAA fallback query.
    assert server.count("no-such-domain.test") == 1


@pytest.mark.integration
def test_it_reports_none_without_mx_or_address_records(server, make_resolver):
    result = make_resolver(server).resolve("txt-only.test")
    assert result.status == MxStatus.NONE
    assert server.count("txt-only.test", "A") == 1
    assert server.count("txt-only.test", "AAAA") == 1


@pytest.mark.integration
def test_a_timeout_is_unknown_never_none(server, make_resolver):
    result = make_resolver(server, timeout=0.3).resolve(SLOW)
    assert result.status == MxStatus.UNKNOWN
    assert result.reason == "DNS timeout"


@pytest.mark.integration
def test_servfail_is_unknown(server, make_resolver):
    result = make_resolver(server).resolve(BROKEN)
    assert result.status == MxStatus.UNKNOWN
    assert result.reason == "SERVFAIL"


@pytest.mark.integration
def test_an_invalid_name_is_none_without_a_query(server, make_resolver):
    result = make_resolver(server).resolve("a..b")
    assert result.status == MxStatus.NONE
    assert server.queries == 0


@pytest.mark.integration
def test_offline_answers_unknown_without_any_query(server, email_cache):
    resolver = MxResolver(nameservers=[server.nameserver], offline=True, cache=email_cache)
    result = resolver.resolve("acme.test")
    assert (result.status, result.reason) == (MxStatus.UNKNOWN, "offline")
    assert resolver.resolve_addresses("mx1.acme.test") == ()
    assert server.queries == 0


@pytest.mark.integration
def test_offline_comes_from_the_setting(server, settings):
    settings.ENRICH_OFFLINE = True
    settings.ENRICH_DNS_NAMESERVERS = [server.nameserver]
    result = MxResolver(use_cache=False).resolve("acme.test")
    assert result.reason == "offline"
    assert server.queries == 0


# --- look-up counts and caching -----------------------------------------------------------


@pytest.mark.integration
def test_resolve_many_looks_each_distinct_domain_up_once(server, make_resolver):
    domains = ["acme.test", "ACME.test", "acme.test.", "a-only.test", "gone.test"] * 20
    results = make_resolver(server).resolve_many(domains)
    assert set(results) == {"acme.test", "ACME.test", "acme.test.", "a-only.test", "gone.test"}
    assert results["ACME.test"] is results["acme.test"]
    assert results["acme.test."].status == MxStatus.PRESENT
    assert results["a-only.test"].status == MxStatus.IMPLICIT
    assert results["gone.test"].status == MxStatus.NONE
    assert server.count("acme.test", "MX") == 1
    assert server.count("a-only.test", "MX") == 1
    assert server.count("gone.test", "MX") == 1


@pytest.mark.integration
def test_resolve_many_bounds_the_queries_in_flight(dns_server, make_resolver):
    zones = {f"d{i}.test": {"MX": [f"10 mx.d{i}.test."]} for i in range(40)}
    server = dns_server(zones, delay=0.05)
    results = make_resolver(server).resolve_many(list(zones), concurrency=5)
    assert {r.status for r in results.values()} == {MxStatus.PRESENT}
    assert server.count("d7.test", "MX") == 1
    assert 1 < server.max_in_flight <= 5


@pytest.mark.integration
def test_repeated_lookups_hit_the_memo_not_the_cache_backend(server, make_resolver):
    cache = RecordingCache()
    resolver = make_resolver(server, cache=cache)
    resolver.resolve_many(["acme.test", "gone.test"])
    reads, queries = cache.reads, server.queries
    for _ in range(50):
        resolver.resolve_many(["acme.test", "gone.test"])
    assert cache.reads == reads
    assert server.queries == queries


@pytest.mark.integration
def test_another_resolver_reuses_the_shared_cache(server, make_resolver):
    cache = RecordingCache()
    first = make_resolver(server, cache=cache).resolve("acme.test")
    queries = server.queries
    second = make_resolver(server, cache=cache).resolve("acme.test")
    assert server.queries == queries
    assert second == first
    assert cache.get("mx:v1:acme.test")["status"] == "present"


@pytest.mark.integration
def test_answers_are_cached_for_as_long_as_they_deserve(server, make_resolver):
    cache = RecordingCache()
    make_resolver(server, cache=cache, timeout=0.3).resolve_many(
        ["acme.test", "a-only.test", "nomail.test", "gone.test", SLOW, BROKEN]
    )
    assert cache.writes == {
        "mx:v1:acme.test": TTL_POSITIVE,
        "mx:v1:a-only.test": TTL_POSITIVE,
        "mx:v1:nomail.test": TTL_NEGATIVE,
        "mx:v1:gone.test": TTL_NEGATIVE,
        f"mx:v1:{SLOW}": TTL_UNKNOWN,
        f"mx:v1:{BROKEN}": TTL_UNKNOWN,
    }
    assert (TTL_POSITIVE, TTL_NEGATIVE, TTL_UNKNOWN) == (86400, 3600, 300)


@pytest.mark.integration
def test_defaults_come_from_settings_and_the_django_cache(server, settings):
    settings.ENRICH_DNS_NAMESERVERS = [server.nameserver]
    settings.ENRICH_OFFLINE = False
    # A name no other test uses: the default cache may be the Redis shared by other suites.
    domain = f"d{uuid.uuid4().hex[:12]}.test"
    server.set_zones({**ZONES, domain: {"MX": ["10 mx.acme.test."]}})
    try:
        result = MxResolver().resolve(domain)
        assert result.hosts == ("mx.acme.test",)
        assert default_cache.get(f"mx:v1:{domain}")["hosts"] == ["mx.acme.test"]
    finally:
        default_cache.delete(f"mx:v1:{domain}")


@pytest.mark.integration
def test_forget_drops_a_domain_from_both_caches(server, make_resolver):
    resolver = make_resolver(server)
    resolver.resolve("acme.test")
    resolver.forget("acme.test")
    resolver.resolve("acme.test")
    assert server.count("acme.test", "MX") == 2


# --- calling contexts and addresses -------------------------------------------------------


@pytest.mark.integration
def test_it_works_when_called_from_inside_an_event_loop(server, make_resolver):
    resolver = make_resolver(server)

    async def async_view() -> MxResult:
        # A synchronous call from async code, as an async Django view might make.
        return resolver.resolve("acme.test")

    assert asyncio.run(async_view()).status == MxStatus.PRESENT


@pytest.mark.integration
def test_mail_host_addresses_come_from_the_same_nameservers(server, make_resolver):
    resolver = make_resolver(server)
    assert resolver.resolve_addresses("mx1.acme.test") == ("127.0.0.1",)
    assert resolver.resolve_addresses("mx1.acme.test") == ("127.0.0.1",)
    assert resolver.resolve_addresses("192.0.2.7") == ("192.0.2.7",)
    assert resolver.resolve_addresses("missing.acme.test") == ()
    assert server.count("mx1.acme.test", "A") == 1


# --- a blind resolver ---------------------------------------------------------------------


@pytest.mark.integration
def test_a_resolver_that_says_nxdomain_for_everything_gives_unknown_not_none(
    dns_server, make_resolver
):
    blind = dns_server({}, outside=False)  # NXDOMAIN for every name, example.com included
    resolver = make_resolver(blind)
    results = resolver.resolve_many(["acme.test", "gone.test"])
    for result in results.values():
        assert (result.status, result.reason) == (MxStatus.UNKNOWN, "DNS unavailable")
    assert resolver.dns_blind()
    # The verdict is remembered: the canary is asked once, not once per batch.
    resolver.resolve_many(["other.test"])
    assert blind.count("example.com") == 1


@pytest.mark.integration
def test_nxdomain_stays_none_when_names_that_exist_resolve(server, make_resolver):
    resolver = make_resolver(server)
    assert resolver.resolve("gone.test").status == MxStatus.NONE
    assert not resolver.dns_blind()


@pytest.mark.integration
def test_one_real_answer_in_the_batch_spares_the_canary(dns_server, make_resolver):
    blind_but_for_acme = dns_server({"acme.test": {"MX": ["10 mx.acme.test."]}}, outside=False)
    results = make_resolver(blind_but_for_acme).resolve_many(["acme.test", "gone.test"])
    assert results["gone.test"].status == MxStatus.NONE
    assert blind_but_for_acme.count("example.com") == 0


@pytest.mark.integration
def test_offline_is_never_blind(dns_server, email_cache):
    blind = dns_server({}, outside=False)
    resolver = MxResolver(nameservers=[blind.nameserver], offline=True, cache=email_cache)
    assert not resolver.dns_blind()
    assert blind.queries == 0
