"""Response cache: keys, serialisation, TTLs, and single flight across threads and processes."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.core.cache import cache as django_cache
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from providers import cache, wire
from providers.adapters.base import FieldValue, ProviderResult
from providers.errors import TemporaryError
from providers.models import Provider
from tests.providers import _client_support as support


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.integration)])
def flights(request, settings, monkeypatch):
    """Single flight in-process (threading.Event) and through a Redis lock."""
    if request.param == "local":
        settings.REDIS_URL = ""
        monkeypatch.setattr(cache, "_local_flights", cache._LocalFlights())
        yield "local"
    else:
        yield from support.use_test_redis(settings)


@pytest.fixture
def key():
    # A fresh key per test: the Django cache (Redis DB 15) is shared with the rest of the suite.
    return cache.cache_key(support.unique_slug("c"), "find_email", "0" * 64)


@pytest.fixture
def result():
    return ProviderResult(
        found=True,
        fields={"email": FieldValue("ada@acme.example", 92)},
        raw={"data": {"email": "ada@acme.example"}},
        cost=Decimal("0.0100"),
        credits_left=Decimal("41.50"),
        http_status=200,
        extra={"provider_status": "valid"},
    )


class Counter:
    """A stand-in for the paid call: counts calls, optionally slow or failing."""

    def __init__(self, result: ProviderResult, *, delay: float = 0.0, fail_first: int = 0):
        self.result = result
        self.delay = delay
        self.fail_first = fail_first
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> ProviderResult:
        with self._lock:
            self.calls += 1
            failing = self.calls <= self.fail_first
        if self.delay:
            threading.Event().wait(self.delay)
        if failing:
            raise TemporaryError("server_error", http_status=503)
        return self.result


# --- Keys, serialisation, TTL ----------------------------------------------------------------------


def test_the_fingerprint_is_sha256_of_canonical_json():
    inputs = {"domain": "acme.example", "first_name": "Ada"}

    assert (
        cache.fingerprint(inputs)
        == hashlib.sha256(b'{"domain":"acme.example","first_name":"Ada"}').hexdigest()
    )


def test_the_fingerprint_ignores_key_order_but_not_values():
    a = cache.fingerprint({"domain": "acme.example", "first_name": "Ada"})
    b = cache.fingerprint({"first_name": "Ada", "domain": "acme.example"})
    c = cache.fingerprint({"first_name": "Ada", "domain": "acme.org"})

    assert a == b != c
    assert len(a) == 64


def test_a_result_survives_serialisation(result):
    again = cache.deserialise(cache.serialise(result))

    assert again == result
    assert isinstance(again.cost, Decimal)


def test_a_result_without_credits_survives_serialisation():
    no_match = ProviderResult(found=False, fields={}, raw=None, cost=Decimal(0))

    assert cache.deserialise(cache.serialise(no_match)) == no_match


def test_the_ttl_is_the_setting_unless_the_provider_overrides_it(settings):
    settings.PROVIDER_CACHE_TTL = timedelta(days=30)

    assert cache.ttl_for(Provider(cache_ttl_days=None)) == timedelta(days=30)
    assert cache.ttl_for(Provider(cache_ttl_days=7)) == timedelta(days=7)
    assert cache.ttl_for(Provider(cache_ttl_days=0)) is None


# --- get_or_call ---------------------------------------------------------------------------------


def test_the_second_identical_request_is_served_from_the_cache(flights, key, result):
    paid = Counter(result)

    first = cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5)
    second = cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5)

    assert paid.calls == 1
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.result == result


@pytest.mark.integration
def test_the_entry_expires_after_the_ttl(flights, key, result):
    cache.get_or_call(key, Counter(result), ttl=timedelta(days=3), wait_timeout=5)

    if flights != "local":
        ttl = redis.Redis.from_url(support.TEST_REDIS_URL).ttl(key)
    else:
        backend = caches["default"]
        if not isinstance(backend, RedisCache):
            pytest.skip("reads the TTL from Redis; the test settings use another cache")
        ttl = backend._cache.get_client(key).ttl(backend.make_and_validate_key(key))
    assert timedelta(days=3) - timedelta(minutes=1) < timedelta(seconds=ttl) <= timedelta(days=3)


@pytest.fixture
def redis_flights(settings):
    yield from support.use_test_redis(settings)


@pytest.mark.integration
def test_a_paid_call_costs_two_redis_round_trips_and_a_hit_one(
    redis_flights, key, result, monkeypatch
):
    # Load the scripts first, so the count is the steady state's.
    warm = cache.cache_key(support.unique_slug("w"), "find_email", "1" * 64)
    cache.get_or_call(warm, Counter(result), ttl=timedelta(days=1), wait_timeout=5)
    sent = support.count_round_trips(monkeypatch)

    miss = cache.get_or_call(key, Counter(result), ttl=timedelta(days=1), wait_timeout=5)
    commands_for_miss = [first_command(packet) for packet in sent]
    sent.clear()
    hit = cache.get_or_call(key, Counter(result), ttl=timedelta(days=1), wait_timeout=5)

    assert (miss.cache_hit, hit.cache_hit) == (False, True)
    assert hit.result == result
    assert commands_for_miss == [b"EVALSHA", b"EVALSHA"]
    assert [first_command(packet) for packet in sent] == [b"EVALSHA"]


def first_command(packet: bytes) -> bytes:
    # b"*5\r\n$7\r\nEVALSHA\r\n...": the name of the packet's first command.
    return packet.split(b"\r\n")[2]


@dataclass
class LeadScript:
    """A script for the lead: counts its runs in Redis and returns its arguments."""

    keys: list
    args: list
    lua: str = "redis.call('INCR', KEYS[1]) return {ARGV[1], ARGV[2], #KEYS}"
    reply: object = None
    sent: bool = False


@pytest.mark.integration
def test_a_script_for_the_lead_runs_only_for_the_caller_that_leads(redis_flights, key, result):
    client = redis.Redis.from_url(support.TEST_REDIS_URL)
    counter = f"runs:{key}"
    leader = LeadScript([counter], ["a", "b"])

    miss = cache.get_or_call(
        key, Counter(result), ttl=timedelta(days=1), wait_timeout=5, on_lead=leader
    )
    reader = LeadScript([counter], ["c", "d"])
    hit = cache.get_or_call(
        key, Counter(result), ttl=timedelta(days=1), wait_timeout=5, on_lead=reader
    )

    assert (miss.cache_hit, hit.cache_hit) == (False, True)
    # Its own KEYS and ARGV, not the cache's.
    assert leader.reply == [b"a", b"b", 1]
    assert leader.sent
    assert reader.reply is None
    assert not reader.sent
    assert client.get(counter) == b"1"


@pytest.mark.integration
def test_a_script_for_the_lead_does_not_run_for_a_follower(redis_flights, key, result):
    lock = _lock_for(key)
    client = redis.Redis.from_url(support.TEST_REDIS_URL)
    client.set(lock, "someone-else", px=300)  # a flight in the air; it ends without an answer
    follower = LeadScript([f"runs:{key}"], ["a", "b"])

    lookup = cache.get_or_call(
        key, Counter(result), ttl=timedelta(days=1), wait_timeout=5, on_lead=follower
    )

    # It waited, then led with a plain lock: the script was not run for it.
    assert not lookup.cache_hit
    assert follower.reply is None
    assert not follower.sent
    assert client.get(f"runs:{key}") is None


@pytest.mark.integration
def test_a_script_for_the_lead_whose_reply_is_lost_counts_as_sent(
    redis_flights, key, result, monkeypatch
):
    client = redis.Redis.from_url(support.TEST_REDIS_URL)
    counter = f"runs:{key}"
    execute = wire.execute

    def run_then_time_out(*args, **kwargs):
        execute(*args, **kwargs)
        raise redis.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(wire, "execute", run_then_time_out)
    lead = LeadScript([counter], ["a", "b"])
    paid = Counter(result)

    lookup = cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5, on_lead=lead)

    # Redis ran it; the caller must assume so (and give back what it may have taken).
    assert client.get(counter) == b"1"
    assert lead.sent and lead.reply is None
    assert not lookup.cache_hit and paid.calls == 1


def test_errors_are_never_cached(flights, key, result):
    paid = Counter(result, fail_first=1)

    with pytest.raises(TemporaryError):
        cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5)
    again = cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5)

    assert paid.calls == 2
    assert not again.cache_hit


def test_no_match_answers_are_cached(flights, key):
    paid = Counter(ProviderResult(found=False, fields={}, raw={}, cost=Decimal(0)))

    cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5)
    again = cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5)

    assert paid.calls == 1
    assert again.cache_hit and not again.result.found


def test_bypassing_the_cache_calls_and_refreshes_it(flights, key, result):
    paid = Counter(result)
    cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5)

    fresh = cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5, use_cache=False)

    assert paid.calls == 2
    assert not fresh.cache_hit
    assert cache.get(key) == result


def test_a_provider_without_caching_is_always_called(flights, key, result):
    paid = Counter(result)

    for _ in range(2):
        cache.get_or_call(key, paid, ttl=None, wait_timeout=5)

    assert paid.calls == 2
    assert cache.get(key) is None


@pytest.mark.parametrize("entry", [{"v": 999, "found": True}, "not json", {"v": 1}])
def test_an_unreadable_entry_is_a_miss(flights, key, result, entry):
    if flights != "local":
        raw = entry if isinstance(entry, str) else json.dumps(entry)
        redis.Redis.from_url(support.TEST_REDIS_URL).set(key, raw)
    else:
        django_cache.set(key, entry)

    assert cache.get(key) is None
    lookup = cache.get_or_call(key, Counter(result), ttl=timedelta(1), wait_timeout=5)
    assert not lookup.cache_hit
    # The call's answer replaced the unreadable entry.
    assert cache.get(key) == result


# --- Single flight ---------------------------------------------------------------------------------


def _race(key: str, paid: Counter, threads: int, wait_timeout: float = 10) -> list:
    barrier = threading.Barrier(threads)
    outcomes: list = []

    def ask() -> None:
        barrier.wait(10)
        try:
            outcomes.append(
                cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=wait_timeout)
            )
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            outcomes.append(exc)

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return outcomes


def test_concurrent_identical_requests_make_one_call(flights, key, result):
    paid = Counter(result, delay=0.2)

    outcomes = _race(key, paid, threads=8)

    assert paid.calls == 1
    assert sorted(o.cache_hit for o in outcomes) == [False] + [True] * 7
    assert all(o.result == result for o in outcomes)


def test_when_the_leader_fails_a_follower_takes_over(flights, key, result):
    paid = Counter(result, delay=0.1, fail_first=1)

    outcomes = _race(key, paid, threads=4)

    # The leader's error is its own; the next in line calls once for everybody else.
    assert paid.calls == 2
    assert sum(isinstance(o, TemporaryError) for o in outcomes) == 1
    assert sum(isinstance(o, cache.Lookup) and o.cache_hit for o in outcomes) == 2


def test_a_follower_stops_waiting_for_a_stuck_leader(flights, key, result):
    # A leader that took the lock and hangs (or died without its lock expiring yet).
    lock = f"{cache.LOCK_PREFIX}:{key.removeprefix(cache.KEY_PREFIX + ':')}"
    assert cache._flights().try_lead(lock, 60)
    paid = Counter(result)

    lookup = cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=0.2)

    assert paid.calls == 1
    assert not lookup.cache_hit


def _lock_for(key: str) -> str:
    return f"{cache.LOCK_PREFIX}:{key.removeprefix(cache.KEY_PREFIX + ':')}"


def test_a_caller_that_lost_the_race_reads_the_answer_instead_of_calling(flights, key, result):
    cache.get_or_call(key, Counter(result), ttl=timedelta(days=1), wait_timeout=5)

    # Someone who read a miss just before the answer landed now tries to lead: the finished
    # flight's marker sends them to the cache instead.
    assert cache._flights().try_lead(_lock_for(key), 5) is None
    assert cache._flights().wait(_lock_for(key), deadline=0) is True


def test_an_answer_that_vanished_from_the_cache_is_asked_again_at_once(flights, key, result):
    paid = Counter(result)
    cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=5)
    cache.delete(key)

    lookup = cache.get_or_call(key, paid, ttl=timedelta(days=1), wait_timeout=60)

    assert paid.calls == 2
    assert not lookup.cache_hit
