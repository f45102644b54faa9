"""Response cache for provider calls, with in-flight de-duplication ("single flight").

A provider answer is cached under ``pc:v1:<slug>:<operation>:<fingerprint>``, where the
fingerprint is the sha256 of the canonical JSON of the adapter's normalised inputs
(:meth:`Adapter.fingerprint_inputs`), so ``" ACME.com "`` and ``"acme.com"`` share an answer.
Entries live in the Django cache for ``settings.PROVIDER_CACHE_TTL`` (30 days by default) or the
provider's ``cache_ttl_days``; ``cache_ttl_days = 0`` turns caching off for that provider.
Only answers are cached (found and no-match results); errors are exceptions and never get here.

Single flight: when several workers ask the same question at once, one of them (the leader)
makes the paid call while the others wait for its answer to land in the cache. Across
processes the leader holds a Redis ``SET NX PX`` lock and followers poll the lock with short
sleeps; in-process (embedded mode) followers wait on a ``threading.Event``. A follower gives up
waiting after ``wait_timeout`` and makes the call itself, and if the leader fails (nothing is
cached) the next follower takes the lead, so a crash or an error never blocks anyone for long.
An answered flight leaves a "done" marker for a few seconds, so a caller that read a miss just
before the answer was stored reads it instead of paying for the call a second time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

from providers.adapters.base import FieldValue, ProviderResult
from providers.ratelimit import redis_client

if TYPE_CHECKING:
    from providers.models import Provider

logger = logging.getLogger(__name__)

KEY_PREFIX = "pc:v1"
LOCK_PREFIX = "sf:v1"
FORMAT_VERSION = 1
# Followers poll the leader's lock with a growing pause: the first answers come back in tens
# of milliseconds, slow providers take seconds, and a poll is one cheap EXISTS.
_POLL_MIN = 0.005
_POLL_MAX = 0.1

#: How long a finished flight's marker outlives it: far longer than any caller takes between
#: reading a miss and trying to lead.
DONE_TTL = 10.0

# Indirection so the benchmark can account for deliberate waits separately from overhead.
_sleep = time.sleep


# --- Keys and fingerprints -----------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no insignificant whitespace, Decimals as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(normalised_inputs: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of already-normalised inputs (64 characters)."""
    return hashlib.sha256(canonical_json(dict(normalised_inputs)).encode()).hexdigest()


def cache_key(slug: str, operation: str, input_fingerprint: str) -> str:
    return f"{KEY_PREFIX}:{slug}:{operation}:{input_fingerprint}"


def ttl_for(provider: Provider) -> timedelta | None:
    """How long ``provider``'s answers are kept; ``None`` when it must not be cached."""
    if provider.cache_ttl_days is None:
        return settings.PROVIDER_CACHE_TTL
    if provider.cache_ttl_days == 0:
        return None
    return timedelta(days=provider.cache_ttl_days)


# --- Serialisation -------------------------------------------------------------------------


def serialise(result: ProviderResult) -> dict[str, Any]:
    """A JSON-compatible dict, so a cached entry outlives changes to the result classes."""
    return {
        "v": FORMAT_VERSION,
        "found": result.found,
        "fields": {
            name: {"value": fv.value, "confidence": fv.confidence}
            for name, fv in result.fields.items()
        },
        "raw": result.raw,
        "cost": str(result.cost),
        "credits_left": None if result.credits_left is None else str(result.credits_left),
        "http_status": result.http_status,
        "extra": result.extra,
    }


def deserialise(data: Mapping[str, Any]) -> ProviderResult:
    return ProviderResult(
        found=bool(data["found"]),
        fields={
            name: FieldValue(item["value"], int(item["confidence"]))
            for name, item in data["fields"].items()
        },
        raw=data.get("raw"),
        cost=Decimal(data["cost"]),
        credits_left=None if data.get("credits_left") is None else Decimal(data["credits_left"]),
        http_status=data.get("http_status"),
        extra=dict(data.get("extra") or {}),
    )


# --- Get and put ---------------------------------------------------------------------------


def get(key: str) -> ProviderResult | None:
    """The cached answer, or ``None`` on a miss, an unreadable entry or a cache outage."""
    try:
        data = django_cache.get(key)
    except Exception:  # noqa: BLE001 - the cache is an optimisation; a miss is always safe.
        logger.warning("provider cache read failed", extra={"cache_key": key}, exc_info=True)
        return None
    if not isinstance(data, Mapping) or data.get("v") != FORMAT_VERSION:
        return None
    try:
        return deserialise(data)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        logger.warning("unreadable provider cache entry dropped", extra={"cache_key": key})
        return None


def put(key: str, result: ProviderResult, ttl: timedelta) -> None:
    try:
        django_cache.set(key, serialise(result), timeout=max(1, int(ttl.total_seconds())))
    except Exception:  # noqa: BLE001 - losing a cache write costs money later, not correctness.
        logger.warning("provider cache write failed", extra={"cache_key": key}, exc_info=True)


def delete(key: str) -> None:
    django_cache.delete(key)


# --- Single flight -------------------------------------------------------------------------


class _RedisFlights:
    """Leader election with ``SET NX PX``; only the holder may finish its flight."""

    # An answered flight leaves a short-lived "done" marker rather than deleting its lock: a
    # caller that read a miss just before the answer landed then finds the marker, reads the
    # cache and does not pay for the call again. A failed flight deletes its lock so the next
    # caller takes the lead at once.
    _FINISH_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '1' then
    return redis.call('SET', KEYS[1], 'done', 'PX', ARGV[3])
  end
  return redis.call('DEL', KEYS[1])
end
return 0
"""
    _CLEAR_DONE_LUA = """
if redis.call('GET', KEYS[1]) == 'done' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._finish = client.register_script(self._FINISH_LUA)
        self._clear_done = client.register_script(self._CLEAR_DONE_LUA)

    def try_lead(self, key: str, ttl: float) -> str | None:
        token = uuid.uuid4().hex
        if self.client.set(key, token, nx=True, px=max(1, int(ttl * 1000))):
            return token
        return None

    def finish(self, key: str, token: str, answered: bool) -> None:
        self._finish(keys=[key], args=[token, "1" if answered else "0", int(DONE_TTL * 1000)])

    def wait(self, key: str, deadline: float) -> bool:
        """Wait while the flight is in the air; True when it ended with an answer."""
        pause = _POLL_MIN
        while True:
            state = self.client.get(key)
            if state is None or state == b"done":
                return state is not None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            _sleep(min(pause, remaining))
            pause = min(pause * 2, _POLL_MAX)

    def clear_done(self, key: str) -> None:
        self._clear_done(keys=[key])


@dataclass
class _Flight:
    token: str
    expires: float
    event: threading.Event
    done: bool = False


class _LocalFlights:
    """The same for threads of one process: an Event per key in flight."""

    #: Forget finished and expired flights every this many new ones (bounds the memory).
    _PRUNE_EVERY = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._started = 0

    def try_lead(self, key: str, ttl: float) -> str | None:
        now = time.monotonic()
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None and flight.expires > now:
                return None
            if flight is not None:
                flight.event.set()  # an expired leader: wake its followers, they re-elect
            self._started += 1
            if self._started % self._PRUNE_EVERY == 0:
                for stale in [k for k, f in self._flights.items() if f.expires <= now]:
                    del self._flights[stale]
            token = uuid.uuid4().hex
            self._flights[key] = _Flight(token, now + ttl, threading.Event())
            return token

    def finish(self, key: str, token: str, answered: bool) -> None:
        with self._lock:
            flight = self._flights.get(key)
            if flight is None or flight.token != token:
                return
            if answered:
                flight.done, flight.expires = True, time.monotonic() + DONE_TTL
            else:
                del self._flights[key]
        flight.event.set()

    def wait(self, key: str, deadline: float) -> bool:
        with self._lock:
            flight = self._flights.get(key)
        if flight is None:
            return False
        if not flight.done:
            flight.event.wait(max(0.0, min(deadline, flight.expires) - time.monotonic()))
        return flight.done

    def clear_done(self, key: str) -> None:
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None and flight.done:
                del self._flights[key]


_local_flights = _LocalFlights()


@lru_cache(maxsize=8)
def _redis_flights(url: str) -> _RedisFlights:
    return _RedisFlights(redis_client(url))


def _flights() -> _RedisFlights | _LocalFlights:
    url = getattr(settings, "REDIS_URL", "")
    return _redis_flights(url) if url else _local_flights


@dataclass
class Lookup:
    """What :func:`get_or_call` did: the result and whether it came from the cache."""

    result: ProviderResult
    cache_hit: bool


def _call_and_store(key: str, compute: Callable[[], ProviderResult], ttl: timedelta) -> Lookup:
    result = compute()
    put(key, result, ttl)
    return Lookup(result, cache_hit=False)


def get_or_call(
    key: str,
    compute: Callable[[], ProviderResult],
    *,
    ttl: timedelta | None,
    wait_timeout: float,
    use_cache: bool = True,
) -> Lookup:
    """The cached answer for ``key``, or ``compute()``'s, with at most one call in flight.

    ``use_cache=False`` skips the read (and the de-duplication) but still stores the fresh
    answer, so a forced refresh also refreshes the cache. ``ttl=None`` means "never cache".
    Exceptions from ``compute`` propagate and nothing is stored.
    """
    if ttl is None:
        return Lookup(compute(), cache_hit=False)
    if not use_cache:
        return _call_and_store(key, compute, ttl)

    hit = get(key)
    if hit is not None:
        return Lookup(hit, cache_hit=True)

    flights = _flights()
    lock = f"{LOCK_PREFIX}:{key.removeprefix(KEY_PREFIX + ':')}"
    deadline = time.monotonic() + wait_timeout
    while True:
        try:
            token = flights.try_lead(lock, wait_timeout)
        except redis.RedisError:
            # No coordination without Redis: better a duplicate call than no call.
            logger.warning("single-flight lock unavailable", extra={"lock": lock}, exc_info=True)
            return _call_and_store(key, compute, ttl)
        if token is not None:
            answered = False
            try:
                lookup = _call_and_store(key, compute, ttl)
                answered = True
                return lookup
            finally:
                with contextlib.suppress(redis.RedisError):  # the lock expires on its own
                    flights.finish(lock, token, answered)

        try:
            done = flights.wait(lock, deadline)
        except redis.RedisError:
            logger.warning("single-flight wait failed", extra={"lock": lock}, exc_info=True)
            return _call_and_store(key, compute, ttl)
        hit = get(key)
        if hit is not None:
            return Lookup(hit, cache_hit=True)
        if done:
            # Answered, yet nothing to read (a failed cache write, an eviction): start afresh.
            with contextlib.suppress(redis.RedisError):
                flights.clear_done(lock)
            continue
        if time.monotonic() >= deadline:
            # Waited long enough for a slow or stuck leader: ask the provider ourselves.
            return _call_and_store(key, compute, ttl)
        # The lock is gone and nothing was cached: the leader failed. Try to lead.
