"""Circuit breaker per provider, shared by every process that calls it.

``closed``     calls go through; consecutive failures are counted.
``open``       after ``threshold`` consecutive failures: calls are refused with
               ``TemporaryError("circuit_open", retry_after=<rest of the cool-down>)`` so a
               provider that is down is not hammered (and our workers do not wait on timeouts).
``half_open``  the cool-down is over: exactly **one** caller, across all processes, is let
               through as a trial. Its success closes the circuit, its failure re-opens it for
               another cool-down. The trial is a lease: if the trial worker dies, another
               caller gets the trial once the lease runs out.

Only temporary errors and server errors (5xx) count as failures (:func:`counts_as_failure`):
a no-match, a bad request or a refused key are answers from a provider that is up.

With ``settings.REDIS_URL`` the state is a Redis hash ``cb:v1:<slug>`` changed by Lua scripts
that read Redis ``TIME``; otherwise it is kept in-process (embedded mode).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings

from providers.errors import ErrorKind, ProviderError, TemporaryError
from providers.ratelimit import redis_client

KEY_PREFIX = "cb:v1"
DEFAULT_THRESHOLD = 5
DEFAULT_COOLDOWN = 30.0
#: How long one trial call may hold the half-open circuit before another caller may try.
DEFAULT_TRIAL_LEASE = 60.0
# Keys of providers nobody calls any more disappear after a day (86400000 ms in the scripts).


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Permit:
    """Permission to make one call; ``trial`` when it is the half-open circuit's one trial."""

    slug: str
    trial: bool = False
    token: str = ""
    #: The circuit has state to clear (counted failures): a success must be recorded.
    #: A clean closed circuit skips that write, the common case.
    dirty: bool = False


def counts_as_failure(error: BaseException) -> bool:
    """Whether ``error`` says the provider is unwell (and so moves the breaker towards open)."""
    if not isinstance(error, ProviderError):
        return False
    return error.kind is ErrorKind.TEMPORARY or (error.http_status or 0) >= 500


# --- Backends ------------------------------------------------------------------------------


class _Backend(Protocol):
    def before_call(
        self, slug: str, cooldown: float, trial_lease: float, token: str
    ) -> tuple[bool, bool, float, bool]: ...

    def record_success(self, slug: str) -> None: ...

    def record_failure(self, slug: str, threshold: int, cooldown: float) -> BreakerState: ...

    def release_trial(self, slug: str, token: str) -> None: ...

    def state(self, slug: str) -> BreakerState: ...

    def reset(self, slug: str) -> None: ...


_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# ARGV: cooldown ms, trial lease ms, token.
# Returns {allowed 0|1, trial 0|1, retry_after ms, dirty 0|1}.
_BEFORE_LUA = (
    _NOW_MS
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'trial_until')
local state = h[1] or 'closed'
if state == 'closed' then
  if h[1] then
    return {1, 0, 0, 1}
  end
  return {1, 0, 0, 0}
end
if state == 'open' then
  local open_until = tonumber(h[2]) or 0
  if now < open_until then
    return {0, 0, open_until - now, 1}
  end
else
  local trial_until = tonumber(h[3]) or 0
  if now < trial_until then
    -- A trial is in flight; its outcome is due well within a cool-down.
    return {0, 0, math.min(trial_until - now, tonumber(ARGV[1])), 1}
  end
end
-- Cool-down over (or the last trial's lease ran out): this caller is the one trial.
redis.call('HSET', KEYS[1], 'state', 'half_open', 'trial_token', ARGV[3],
           'trial_until', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], math.max(86400000, 2 * tonumber(ARGV[2])))
return {1, 1, 0, 1}
"""
)

# ARGV: threshold, cooldown ms. Returns the state after the failure.
_FAILURE_LUA = (
    _NOW_MS
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'open' then
  return 'open'
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half_open' or failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + tonumber(ARGV[2]),
             'failures', 0)
  redis.call('HDEL', KEYS[1], 'trial_token', 'trial_until')
  redis.call('PEXPIRE', KEYS[1], math.max(86400000, 2 * tonumber(ARGV[2])))
  return 'open'
end
redis.call('HSET', KEYS[1], 'state', 'closed')
redis.call('PEXPIRE', KEYS[1], 86400000)
return 'closed'
"""
)

# ARGV: token. Gives the half-open trial back untried (the call was never sent).
_RELEASE_LUA = """
local h = redis.call('HMGET', KEYS[1], 'state', 'trial_token')
if h[1] == 'half_open' and h[2] == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'trial_token', 'trial_until')
end
return 1
"""

_STATE_LUA = (
    _NOW_MS
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'open_until')
local state = h[1] or 'closed'
if state == 'open' and now >= (tonumber(h[2]) or 0) then
  return 'half_open'
end
return state
"""
)


def _key(slug: str) -> str:
    return f"{KEY_PREFIX}:{slug}"


def state_key(slug: str) -> str:
    """The Redis key of ``slug``'s circuit. It exists only while the circuit has something to
    say (failures counted, open or half-open): a healthy provider has none, which lets the
    provider client fold this check into its admission script (``ratelimit.admission``'s
    ``guard``) and consult the breaker only when the key is there."""
    return _key(slug)


class RedisBackend:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._before = client.register_script(_BEFORE_LUA)
        self._failure = client.register_script(_FAILURE_LUA)
        self._release = client.register_script(_RELEASE_LUA)
        self._state = client.register_script(_STATE_LUA)

    def before_call(
        self, slug: str, cooldown: float, trial_lease: float, token: str
    ) -> tuple[bool, bool, float, bool]:
        allowed, trial, retry_ms, dirty = self._before(
            keys=[_key(slug)], args=[int(cooldown * 1000), int(trial_lease * 1000), token]
        )
        return bool(allowed), bool(trial), int(retry_ms) / 1000, bool(dirty)

    def record_success(self, slug: str) -> None:
        # A closed circuit with no failures is the absence of the key.
        self.client.delete(_key(slug))

    def record_failure(self, slug: str, threshold: int, cooldown: float) -> BreakerState:
        state = self._failure(keys=[_key(slug)], args=[threshold, int(cooldown * 1000)])
        return BreakerState(state.decode() if isinstance(state, bytes) else state)

    def release_trial(self, slug: str, token: str) -> None:
        self._release(keys=[_key(slug)], args=[token])

    def state(self, slug: str) -> BreakerState:
        state = self._state(keys=[_key(slug)])
        return BreakerState(state.decode() if isinstance(state, bytes) else state)

    def reset(self, slug: str) -> None:
        self.client.delete(_key(slug))


@dataclass
class _LocalCircuit:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    open_until: float = 0.0
    trial_token: str = ""
    trial_until: float = 0.0


class LocalBackend:
    """The same state machine for one process (embedded mode)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[str, _LocalCircuit] = {}

    def before_call(
        self, slug: str, cooldown: float, trial_lease: float, token: str
    ) -> tuple[bool, bool, float, bool]:
        now = self._clock()
        with self._lock:
            c = self._circuits.get(slug)
            if c is None:
                return True, False, 0.0, False
            if c.state is BreakerState.CLOSED:
                return True, False, 0.0, True
            if c.state is BreakerState.OPEN and now < c.open_until:
                return False, False, c.open_until - now, True
            if c.state is BreakerState.HALF_OPEN and now < c.trial_until:
                return False, False, min(c.trial_until - now, cooldown), True
            c.state = BreakerState.HALF_OPEN
            c.trial_token, c.trial_until = token, now + trial_lease
            return True, True, 0.0, True

    def record_success(self, slug: str) -> None:
        with self._lock:
            self._circuits.pop(slug, None)

    def record_failure(self, slug: str, threshold: int, cooldown: float) -> BreakerState:
        now = self._clock()
        with self._lock:
            c = self._circuits.setdefault(slug, _LocalCircuit())
            if c.state is BreakerState.OPEN:
                return c.state
            c.failures += 1
            if c.state is BreakerState.HALF_OPEN or c.failures >= threshold:
                c.state, c.open_until, c.failures = BreakerState.OPEN, now + cooldown, 0
                c.trial_token, c.trial_until = "", 0.0
            return c.state

    def release_trial(self, slug: str, token: str) -> None:
        with self._lock:
            c = self._circuits.get(slug)
            if c and c.state is BreakerState.HALF_OPEN and c.trial_token == token:
                c.trial_token, c.trial_until = "", 0.0

    def state(self, slug: str) -> BreakerState:
        with self._lock:
            c = self._circuits.get(slug)
            if c is None:
                return BreakerState.CLOSED
            if c.state is BreakerState.OPEN and self._clock() >= c.open_until:
                return BreakerState.HALF_OPEN
            return c.state

    def reset(self, slug: str) -> None:
        with self._lock:
            self._circuits.pop(slug, None)


@lru_cache(maxsize=8)
def _redis_backend(url: str) -> RedisBackend:
    return RedisBackend(redis_client(url))


_local_backend = LocalBackend()


def get_backend() -> RedisBackend | LocalBackend:
    url = getattr(settings, "REDIS_URL", "")
    return _redis_backend(url) if url else _local_backend


# --- Public API ----------------------------------------------------------------------------


def before_call(
    slug: str,
    *,
    cooldown: float = DEFAULT_COOLDOWN,
    trial_lease: float = DEFAULT_TRIAL_LEASE,
) -> Permit:
    """Ask to make one call; raises ``TemporaryError("circuit_open")`` while the circuit is open.

    A permit with ``trial=True`` must end in :func:`record_success`, :func:`record_failure`
    or, if the call is not sent after all, :func:`release_trial`.
    """
    token = uuid.uuid4().hex
    try:
        allowed, trial, retry_after, dirty = get_backend().before_call(
            slug, cooldown, trial_lease, token
        )
    except redis.RedisError as exc:
        raise TemporaryError("limiter_unavailable", f"circuit breaker unavailable: {exc}") from exc
    if not allowed:
        raise TemporaryError(
            "circuit_open",
            f"{slug} is failing; calls paused",
            retry_after=round(max(retry_after, 0.001), 3),
        )
    return Permit(slug=slug, trial=trial, token=token if trial else "", dirty=dirty)


def record_success(slug: str) -> None:
    """The provider answered: close the circuit and forget past failures.

    Callers holding a :class:`Permit` may skip this when neither ``trial`` nor ``dirty`` is
    set: there is nothing to clear.
    """
    get_backend().record_success(slug)


def record_failure(
    slug: str, *, threshold: int = DEFAULT_THRESHOLD, cooldown: float = DEFAULT_COOLDOWN
) -> BreakerState:
    """Count a failure; returns the state after it (``open`` when this one tripped it)."""
    return get_backend().record_failure(slug, threshold, cooldown)


def release_trial(permit: Permit) -> None:
    """Hand back an unused half-open trial so the next caller may try straight away."""
    if permit.trial:
        get_backend().release_trial(permit.slug, permit.token)


def state(slug: str) -> str:
    """``"closed"``, ``"open"`` or ``"half_open"`` (open with the cool-down over)."""
    return str(get_backend().state(slug))


def reset(slug: str) -> None:
    """Close the circuit by hand (an admin fixed the credentials, say)."""
    get_backend().reset(slug)
