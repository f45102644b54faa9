"""Response cache for provider calls, with in-flight de-duplication ("single flight").

A provider answer is cached under ``pc:v1:<slug>:<operation>:<fingerprint>``, where the
fingerprint is the sha256 of the canonical JSON of the adapter's normalised inputs
(:meth:`Adapter.fingerprint_inputs`), so ``" ACME.com "`` and ``"acme.com"`` share an answer.
Entries live for ``settings.PROVIDER_CACHE_TTL`` (30 days by default) or the provider's
``cache_ttl_days``; ``cache_ttl_days = 0`` turns caching off for that provider. Only answers are
cached (found and no-match results); errors are exceptions and never get here.

With ``settings.REDIS_URL`` set, entries are JSON strings in Redis under that key, next to the
single-flight locks, so one Lua script reads the entry *or* takes the lead and another stores
the answer *and* ends the flight: two round trips per paid call instead of four. Without Redis
(the embedded mode) entries go to the Django cache.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

from providers import ids, wire
from providers.adapters.base import FieldValue, ProviderResult
from providers.ratelimit import redis_client

if TYPE_CHECKING:
    from providers.models import Provider
    from providers.tail import CallTail

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


class LeadScript(Protocol):
    """A Lua script to run in the cache read's round trip when the caller takes the lead.

    ``lua`` is a script body (it may ``return``), ``keys`` and ``args`` its KEYS and ARGV;
    :func:`get_or_call` sets ``reply`` to what it returned, and ``sent`` while it may have run
    (True from before sending until a reply says it did not). The provider client passes the
    rate limiter's first admission attempt (:class:`providers.ratelimit.AdmitRequest`): only
    a caller that will make the call needs admission.
    """

    lua: str
    keys: list[str]
    args: list[Any]
    reply: Any
    sent: bool


# --- Keys and fingerprints -----------------------------------------------------------------


# Encoders made once: json.dumps with options builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)
_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no insignificant whitespace, Decimals as strings."""
    return _CANONICAL.encode(value)


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


def _decode(key: str, data: Any) -> ProviderResult | None:
    if not isinstance(data, Mapping) or data.get("v") != FORMAT_VERSION:
        return None
    try:
        return deserialise(data)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        logger.warning("unreadable provider cache entry dropped", extra={"cache_key": key})
        return None


def _decode_json(key: str, raw: bytes | None) -> ProviderResult | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        logger.warning("unreadable provider cache entry dropped", extra={"cache_key": key})
        return None
    return _decode(key, data)


def _encode_json(result: ProviderResult) -> str:
    return _COMPACT.encode(serialise(result))


def _ttl_seconds(ttl: timedelta) -> int:
    return max(1, int(ttl.total_seconds()))


def get(key: str) -> ProviderResult | None:
    """The cached answer, or ``None`` on a miss, an unreadable entry or a cache outage."""
    flights = _flights()
    try:
        if isinstance(flights, _RedisFlights):
            return _decode_json(key, flights.client.get(key))
        data = django_cache.get(key)
    except Exception:  # noqa: BLE001 - the cache is an optimisation; a miss is always safe.
        logger.warning("provider cache read failed", extra={"cache_key": key}, exc_info=True)
        return None
    return _decode(key, data)


def put(key: str, result: ProviderResult, ttl: timedelta) -> None:
    flights = _flights()
    try:
        if isinstance(flights, _RedisFlights):
            flights.client.set(key, _encode_json(result), ex=_ttl_seconds(ttl))
        else:
            django_cache.set(key, serialise(result), timeout=_ttl_seconds(ttl))
    except Exception:  # noqa: BLE001 - losing a cache write costs money later, not correctness.
        logger.warning("provider cache write failed", extra={"cache_key": key}, exc_info=True)


def delete(key: str) -> None:
    flights = _flights()
    if isinstance(flights, _RedisFlights):
        flights.client.delete(key)
    else:
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

    # The entry, else the lead: {1, entry} on a hit, {2} when this caller now leads, {0} when
    # another caller's flight is in the air (or just answered: read again after waiting).
    _LOOKUP_OR_LEAD_LUA = """
local entry = redis.call('GET', KEYS[1])
if entry then
  return {1, entry}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {2}
end
return {0}
"""
    # The same, and when this caller takes the lead, another module's script (LeadScript) in
    # the same round trip: {2, its reply}. Its KEYS follow ours; ARGV[3] says how many there
    # are, its ARGV follow. Inside the function KEYS and ARGV are its own.
    _LOOKUP_OR_LEAD_THEN_LUA = """
local entry = redis.call('GET', KEYS[1])
if entry then
  return {1, entry}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local keys, args = {}, {}
  for i = 1, tonumber(ARGV[3]) do
    keys[i] = KEYS[2 + i]
  end
  for i = 4, #ARGV do
    args[#args + 1] = ARGV[i]
  end
  local reply = (function(KEYS, ARGV)
-- THEN --
  end)(keys, args)
  return {2, reply}
end
return {0}
"""
    # Store the answer, then end the flight as _FINISH_LUA does for an answered one.
    _STORE_AND_FINISH_LUA = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('SET', KEYS[2], 'done', 'PX', ARGV[4])
end
return 1
"""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._finish = client.register_script(self._FINISH_LUA)
        self._clear_done = client.register_script(self._CLEAR_DONE_LUA)
        self._lookup_or_lead = client.register_script(self._LOOKUP_OR_LEAD_LUA)
        self._store_and_finish = client.register_script(self._STORE_AND_FINISH_LUA)
        self._then_scripts: dict[str, Any] = {}

    def lookup_or_lead(
        self, key: str, lock: str, ttl: float, on_lead: LeadScript | None = None
    ) -> tuple[ProviderResult | None, str | None]:
        """(cached answer, None) on a hit, (None, token) when leading, (None, None) to wait.

        ``on_lead`` runs in the same round trip when this caller takes the lead; its reply is
        set on it.
        """
        token = ids.token()
        keys, args = [key, lock], [token, max(1, int(ttl * 1000))]
        if on_lead is None:
            reply = wire.run_script(self.client, self._lookup_or_lead, keys, args)
        else:
            script = self._then_scripts.get(on_lead.lua)
            if script is None:
                lua = self._LOOKUP_OR_LEAD_THEN_LUA.replace("-- THEN --", on_lead.lua)
                script = self._then_scripts[on_lead.lua] = self.client.register_script(lua)
            on_lead.sent = True  # from here on it may have run, whatever happens to the reply
            reply = wire.run_script(
                self.client,
                script,
                [*keys, *on_lead.keys],
                [*args, len(on_lead.keys), *on_lead.args],
            )
            if reply[0] == 2:
                on_lead.reply = reply[1]
            else:
                on_lead.sent = False  # a hit or a follower: the script did not run
        if reply[0] == 1:
            hit = _decode_json(key, reply[1])
            if hit is not None:
                return hit, None
            # An unreadable entry is a miss: lead the call that replaces it.
            return None, token if self.try_lead(lock, ttl, token) else None
        return None, token if reply[0] == 2 else None

    def store_and_finish(
        self,
        key: str,
        result: ProviderResult,
        ttl: timedelta,
        lock: str,
        token: str,
        tail: CallTail | None = None,
    ) -> None:
        """Store the answer and end the flight; with ``tail``, together with the call's other
        final writes, in one round trip (failures are logged, as below)."""
        keys = [key, lock]
        args = [_encode_json(result), _ttl_seconds(ttl), token, int(DONE_TTL * 1000)]
        if tail is None:
            self._store_and_finish(keys=keys, args=args)
            return
        tail.script(
            self._store_and_finish, keys, args, on_error=lambda exc: _write_failed(key, exc)
        )
        tail.send()

    def try_lead(self, key: str, ttl: float, token: str | None = None) -> str | None:
        token = token or ids.token()
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
            token = ids.token()
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


def _write_failed(key: str, exc: BaseException | None = None) -> None:
    # Followers find no answer and no marker once the lock expires: they call.
    logger.warning("provider cache write failed", extra={"cache_key": key}, exc_info=exc or True)


def _lead(
    flights: _RedisFlights | _LocalFlights,
    key: str,
    lock: str,
    token: str,
    compute: Callable[[], ProviderResult],
    ttl: timedelta,
    tail: CallTail | None,
) -> Lookup:
    """Make the call as the flight's leader, store the answer and end the flight."""
    try:
        result = compute()
    except BaseException:
        with contextlib.suppress(redis.RedisError):  # the lock expires on its own
            flights.finish(lock, token, answered=False)
        raise
    if isinstance(flights, _RedisFlights):
        try:
            flights.store_and_finish(key, result, ttl, lock, token, tail)
        except redis.RedisError:
            _write_failed(key)
    else:
        put(key, result, ttl)
        flights.finish(lock, token, answered=True)
    return Lookup(result, cache_hit=False)


def get_or_call(
    key: str,
    compute: Callable[[], ProviderResult],
    *,
    ttl: timedelta | None,
    wait_timeout: float,
    use_cache: bool = True,
    tail: CallTail | None = None,
    on_lead: LeadScript | None = None,
) -> Lookup:
    """The cached answer for ``key``, or ``compute()``'s, with at most one call in flight.

    ``use_cache=False`` skips the read (and the de-duplication) but still stores the fresh
    answer, so a forced refresh also refreshes the cache. ``ttl=None`` means "never cache".
    Exceptions from ``compute`` propagate and nothing is stored. ``tail`` holds the writes
    ``compute`` deferred (:mod:`providers.tail`): a leader sends them with its store; in every
    other case the caller sends what is left. ``on_lead`` (Redis mode) runs in the first
    read's round trip if that read makes this caller the leader (see :class:`LeadScript`);
    in every other case it does not run, and its ``reply`` stays unset.
    """
    if ttl is None:
        return Lookup(compute(), cache_hit=False)
    if not use_cache:
        return _call_and_store(key, compute, ttl)

    flights = _flights()
    lock = f"{LOCK_PREFIX}:{key.removeprefix(KEY_PREFIX + ':')}"
    deadline = time.monotonic() + wait_timeout
    first = True
    while True:
        try:
            if first and isinstance(flights, _RedisFlights):
                hit, token = flights.lookup_or_lead(key, lock, wait_timeout, on_lead)
                if hit is not None:
                    return Lookup(hit, cache_hit=True)
            else:
                if first and (hit := get(key)) is not None:
                    return Lookup(hit, cache_hit=True)
                token = flights.try_lead(lock, wait_timeout)
        except redis.RedisError:
            # No coordination without Redis: better a duplicate call than no call.
            logger.warning("single-flight lock unavailable", extra={"lock": lock}, exc_info=True)
            return _call_and_store(key, compute, ttl)
        first = False
        if token is not None:
            return _lead(flights, key, lock, token, compute, ttl, tail)

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
