"""Provider limits shared by every process that calls a provider.

Three limits protect a provider account (and our budget) from our own workers:

* a **token bucket** per provider (requests per minute), so the fleet never sends faster than
  the provider allows;
* a **concurrency limit** (calls in flight), held as *leases* that expire, so a worker killed
  mid-call does not keep its slot forever;
* a **daily quota** (calls per UTC day).

With ``settings.REDIS_URL`` set the state lives in Redis and each operation is one Lua script
(:mod:`providers.ratelimit_scripts`), so it is atomic across processes and hosts; the scripts
read the clock with Redis ``TIME`` so hosts with skewed clocks still agree. Keys are ``rl:v1:<slug>:...`` and expire on their own.
Without Redis (the embedded mode) the same logic runs in-process under a lock; it then limits
one process only, which is what the embedded single-worker set-up runs.

Nobody spins. The token bucket *reserves*: a caller that finds the bucket empty takes a token
from the future and sleeps exactly until it is due (tokens may go negative by at most
``timeout`` worth of rate, so callers queue in order). A caller waiting for a concurrency slot
blocks until a release wakes it: on a ``threading.Condition`` in-process, on a Redis list
(``BLPOP``) that every release pushes to across processes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import redis
from django.conf import settings

from providers import ids
from providers import ratelimit_scripts as scripts
from providers.errors import ProviderFailure, TemporaryError

if TYPE_CHECKING:
    from providers.tail import CallTail

logger = logging.getLogger(__name__)

KEY_PREFIX = "rl:v1"
DEFAULT_ACQUIRE_TIMEOUT = 30.0
#: How long a concurrency slot survives a worker that died without releasing it.
DEFAULT_SLOT_LEASE = 120.0
# Leases that expire (a dead worker) wake nobody: slot waiters also look again this often.
_SLOT_WAKE_MAX = 0.5

# Indirection so the benchmark can account for deliberate waits separately from overhead.
_sleep = time.sleep


@dataclass(frozen=True)
class QuotaTicket:
    """One unit of a provider's daily quota, returned by :func:`take_quota` for refunds."""

    slug: str
    day: str


class GuardKeyExists(Exception):  # noqa: N818 - a condition, not an error
    """:func:`admission` was refused, taking nothing, because its ``guard`` key exists."""


def supports_guard() -> bool:
    """Whether :func:`admission` can take a ``guard`` key: only the Redis backend can."""
    return bool(getattr(settings, "REDIS_URL", ""))


# --- Backends ------------------------------------------------------------------------------


class _Backend(Protocol):
    def reserve_token(
        self, slug: str, rate_per_second: float, burst: int, max_wait: float
    ) -> tuple[bool, float]: ...

    def try_slot(self, slug: str, limit: int, lease: float, token: str) -> bool: ...

    def admit(
        self,
        slug: str,
        limit: int,
        lease: float,
        token: str,
        rate: float,
        burst: int,
        max_wait: float,
        timeout: float,
        guard: str | None = None,
        first_reply: tuple[Any, Any] | None = None,
    ) -> tuple[int, float]: ...

    def wait_slot(
        self, slug: str, limit: int, lease: float, token: str, timeout: float
    ) -> bool: ...

    def release_slot(self, slug: str, token: str, limit: int) -> None: ...

    def slots_in_use(self, slug: str) -> int: ...

    def take_quota(self, slug: str, limit: int) -> tuple[bool, int, str]: ...

    def refund_quota(self, slug: str, day: str) -> None: ...

    def quota_used(self, slug: str) -> int: ...

    def reset(self, slug: str) -> None: ...


def _key(slug: str, part: str) -> str:
    return f"{KEY_PREFIX}:{slug}:{part}"


class RedisBackend:
    """Limits kept in Redis, shared by every process and host using the same server."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._bucket = client.register_script(scripts.BUCKET_LUA)
        self._slot = client.register_script(scripts.SLOT_LUA)
        self._admit = client.register_script(scripts.ADMIT_LUA)
        self._release = client.register_script(scripts.RELEASE_LUA)
        self._quota_take = client.register_script(scripts.QUOTA_TAKE_LUA)
        self._quota_refund = client.register_script(scripts.QUOTA_REFUND_LUA)
        self._quota_used = client.register_script(scripts.QUOTA_USED_LUA)

    def reserve_token(
        self, slug: str, rate_per_second: float, burst: int, max_wait: float
    ) -> tuple[bool, float]:
        reserved, wait = self._bucket(
            keys=[_key(slug, "bucket")], args=[rate_per_second, burst, max_wait]
        )
        return reserved == 1, float(wait)

    def try_slot(self, slug: str, limit: int, lease: float, token: str) -> bool:
        return bool(
            self._slot(keys=[_key(slug, "inflight")], args=[limit, int(lease * 1000), token])
        )

    def wait_slot(self, slug: str, limit: int, lease: float, token: str, timeout: float) -> bool:
        """Take a slot, blocking on the freed list until a release (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while not self.try_slot(slug, limit, lease, token):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.client.blpop([_key(slug, "freed")], timeout=min(remaining, _SLOT_WAKE_MAX))
        return True

    def admit(
        self,
        slug: str,
        limit: int,
        lease: float,
        token: str,
        rate: float,
        burst: int,
        max_wait: float,
        timeout: float,
        guard: str | None = None,
        first_reply: tuple[Any, Any] | None = None,
    ) -> tuple[int, float]:
        """Slot and token together; blocks on the freed list while no slot is free.

        With ``guard``, nothing is taken while that key exists (status 3). ``first_reply`` is
        the admission script's answer when it already ran in another script's round trip
        (see :class:`AdmitRequest`).
        """
        deadline = time.monotonic() + timeout
        keys, args = admit_keys_args(slug, limit, lease, token, rate, burst, max_wait, guard)
        while True:
            if first_reply is not None:
                (status, wait), first_reply = first_reply, None
            else:
                status, wait = self._admit(keys=keys, args=args)
            if status != 0:
                return int(status), float(wait)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return 0, 0.0
            self.client.blpop([_key(slug, "freed")], timeout=min(remaining, _SLOT_WAKE_MAX))

    def release_slot(self, slug: str, token: str, limit: int) -> None:
        self._release(keys=[_key(slug, "inflight"), _key(slug, "freed")], args=[token, limit])

    def release_slot_later(self, tail: CallTail, slug: str, token: str, limit: int) -> None:
        """Queue the release on the call's tail; if it fails, the lease expires by itself."""
        tail.script(
            self._release,
            keys=[_key(slug, "inflight"), _key(slug, "freed")],
            args=[token, limit],
            on_error=_slot_release_failed,
        )

    def slots_in_use(self, slug: str) -> int:
        now_s, now_us = self.client.time()
        now_ms = now_s * 1000 + now_us // 1000
        return int(self.client.zcount(_key(slug, "inflight"), now_ms, "+inf"))

    def take_quota(self, slug: str, limit: int) -> tuple[bool, int, str]:
        allowed, used, day = self._quota_take(keys=[_key(slug, "quota")], args=[limit])
        return bool(allowed), int(used), day.decode() if isinstance(day, bytes) else str(day)

    def refund_quota(self, slug: str, day: str) -> None:
        self._quota_refund(keys=[_key(slug, "quota")], args=[day])

    def quota_used(self, slug: str) -> int:
        return int(self._quota_used(keys=[_key(slug, "quota")]))

    def reset(self, slug: str) -> None:
        parts = ("bucket", "inflight", "freed", "quota")
        self.client.delete(*(_key(slug, part) for part in parts))


class LocalBackend:
    """The same limits for one process (embedded mode), guarded by a lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # slug -> (tokens, clock time)
        self._slots: dict[str, dict[str, float]] = {}  # slug -> token -> lease expiry
        self._slot_freed = threading.Condition(self._lock)
        self._quota: dict[tuple[str, str], int] = {}

    def reserve_token(
        self, slug: str, rate_per_second: float, burst: int, max_wait: float
    ) -> tuple[bool, float]:
        with self._lock:
            return self._reserve_locked(slug, rate_per_second, burst, max_wait)

    def _reserve_locked(
        self, slug: str, rate_per_second: float, burst: int, max_wait: float
    ) -> tuple[bool, float]:
        now = self._clock()
        tokens, ts = self._buckets.get(slug, (float(burst), now))
        tokens = min(float(burst), tokens + (now - ts) * rate_per_second)
        wait = (1 - tokens) / rate_per_second if tokens < 1 else 0.0
        if wait > max_wait:
            return False, wait
        self._buckets[slug] = (tokens - 1, now)
        return True, wait

    def admit(
        self,
        slug: str,
        limit: int,
        lease: float,
        token: str,
        rate: float,
        burst: int,
        max_wait: float,
        timeout: float,
        guard: str | None = None,
        first_reply: tuple[Any, Any] | None = None,
    ) -> tuple[int, float]:
        if guard is not None or first_reply is not None:
            raise ValueError("guard keys and scripts are Redis': the in-process limiter has none")
        deadline = self._clock() + timeout
        with self._slot_freed:
            while limit and not self._try_slot_locked(slug, limit, lease, token):
                now = self._clock()
                if now >= deadline:
                    return 0, 0.0
                next_expiry = min(self._slots.get(slug, {}).values(), default=deadline)
                self._slot_freed.wait(max(0.0, min(deadline, next_expiry) - now))
            if not rate:
                return 1, 0.0
            reserved, wait = self._reserve_locked(slug, rate, burst, max_wait)
            if not reserved:
                # The slot goes only with a token: give it back.
                if limit:
                    self._slots.get(slug, {}).pop(token, None)
                    self._slot_freed.notify_all()
                return 2, wait
            return 1, wait

    def try_slot(self, slug: str, limit: int, lease: float, token: str) -> bool:
        with self._lock:
            return self._try_slot_locked(slug, limit, lease, token)

    def _try_slot_locked(self, slug: str, limit: int, lease: float, token: str) -> bool:
        now = self._clock()
        leases = self._slots.setdefault(slug, {})
        for held, expires in list(leases.items()):
            if expires <= now:
                del leases[held]
        if len(leases) >= limit:
            return False
        leases[token] = now + lease
        return True

    def wait_slot(self, slug: str, limit: int, lease: float, token: str, timeout: float) -> bool:
        """Block on a condition until a slot is free or ``timeout`` passes."""
        deadline = self._clock() + timeout
        with self._slot_freed:
            while not self._try_slot_locked(slug, limit, lease, token):
                now = self._clock()
                if now >= deadline:
                    return False
                leases = self._slots.get(slug, {})
                # Wake up for a lease that expires before anyone releases, too.
                next_expiry = min(leases.values(), default=deadline)
                self._slot_freed.wait(max(0.0, min(deadline, next_expiry) - now))
            return True

    def release_slot(self, slug: str, token: str, limit: int) -> None:
        with self._slot_freed:
            self._slots.get(slug, {}).pop(token, None)
            self._slot_freed.notify_all()

    def slots_in_use(self, slug: str) -> int:
        with self._lock:
            now = self._clock()
            return sum(1 for exp in self._slots.get(slug, {}).values() if exp > now)

    def take_quota(self, slug: str, limit: int) -> tuple[bool, int, str]:
        day = _utc_day()
        with self._lock:
            used = self._quota.get((slug, day), 0)
            if used >= limit:
                return False, used, day
            self._quota[(slug, day)] = used + 1
            return True, used + 1, day

    def refund_quota(self, slug: str, day: str) -> None:
        with self._lock:
            if self._quota.get((slug, day), 0) > 0:
                self._quota[(slug, day)] -= 1

    def quota_used(self, slug: str) -> int:
        with self._lock:
            return self._quota.get((slug, _utc_day()), 0)

    def reset(self, slug: str) -> None:
        with self._slot_freed:
            self._buckets.pop(slug, None)
            self._slots.pop(slug, None)
            for key in [k for k in self._quota if k[0] == slug]:
                del self._quota[key]
            self._slot_freed.notify_all()


def admit_keys_args(
    slug: str,
    limit: int,
    lease: float,
    token: str,
    rate: float,
    burst: int,
    max_wait: float,
    guard: str | None,
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of :data:`~providers.ratelimit_scripts.ADMIT_LUA`."""
    keys = [_key(slug, "inflight"), _key(slug, "bucket")] + ([guard] if guard else [])
    return keys, [limit, int(lease * 1000), token, rate, burst, max_wait]


def _slot_release_failed(exc: Exception) -> None:
    logger.warning("concurrency slot not released; its lease expires", extra={"error": str(exc)})


def _utc_day() -> str:
    # Same numbering as the Lua scripts: days since the epoch, UTC.
    return str(int(datetime.now(UTC).timestamp()) // 86400)


@lru_cache(maxsize=8)
def redis_client(url: str) -> redis.Redis:
    """One connection pool per URL and process (redis-py resets pools after a fork)."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


@lru_cache(maxsize=8)
def _redis_backend(url: str) -> RedisBackend:
    return RedisBackend(redis_client(url))


_local_backend = LocalBackend()


def get_backend() -> RedisBackend | LocalBackend:
    """Redis when ``settings.REDIS_URL`` is set, the in-process backend otherwise.

    Read on every call (an attribute lookup) so a settings override in tests takes effect.
    """
    url = getattr(settings, "REDIS_URL", "")
    return _redis_backend(url) if url else _local_backend


@contextlib.contextmanager
def _redis_errors_as_temporary() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        # Refuse the call rather than send it unlimited: a retry later is cheap, a ban is not.
        raise TemporaryError("limiter_unavailable", f"rate limiter unavailable: {exc}") from exc


# --- Public API ----------------------------------------------------------------------------


def acquire(
    slug: str,
    rate_per_minute: int | None,
    burst: int | None = None,
    timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
) -> float:
    """Take one request token for ``slug``, sleeping until it is due.

    ``burst`` is the bucket size; the default of 1 spaces requests evenly, which also keeps
    providers with a per-second limit below their per-minute one happy. Returns the seconds
    slept. Raises ``TemporaryError("rate_limited", retry_after=...)`` without sleeping when the
    token would not be due within ``timeout``.
    """
    if not rate_per_minute:
        return 0.0
    with _redis_errors_as_temporary():
        reserved, wait = get_backend().reserve_token(
            slug, rate_per_minute / 60.0, max(1, burst or 1), timeout
        )
    if not reserved:
        raise TemporaryError(
            "rate_limited",
            f"rate limit of {rate_per_minute}/min for {slug} reached",
            retry_after=round(wait, 3),
        )
    if wait > 0:
        _sleep(wait)
    return wait


@contextlib.contextmanager
def concurrency_slot(
    slug: str,
    limit: int | None,
    *,
    lease: float = DEFAULT_SLOT_LEASE,
    timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
) -> Iterator[None]:
    """Hold one of ``limit`` in-flight slots for ``slug`` for the duration of the block.

    The slot is a lease of ``lease`` seconds: set it longer than the call can take (the client
    uses the provider timeout plus a margin). Raises ``TemporaryError("concurrency_limited")``
    when no slot frees within ``timeout``.
    """
    if not limit:
        yield
        return
    backend = get_backend()
    token = ids.token()
    with _redis_errors_as_temporary():
        acquired = backend.wait_slot(slug, limit, lease, token, timeout)
    if not acquired:
        raise TemporaryError(
            "concurrency_limited",
            f"{limit} calls to {slug} already in flight",
            retry_after=1.0,
        )
    try:
        yield
    finally:
        with contextlib.suppress(redis.RedisError):
            # If Redis is gone the lease expires on its own.
            backend.release_slot(slug, token, limit)


@dataclass
class AdmitRequest:
    """The first admission attempt of a call, for another module to run in its own round trip.

    The provider client hands this to the response cache, whose read-or-lead script runs it
    when the caller takes the lead (a miss, the only case that needs admission) and sets
    :attr:`reply`; :func:`admission` then starts from that reply instead of asking Redis. A
    cache hit never runs it, so it takes nothing. ``lua`` is the admission script's source,
    ``keys`` and ``args`` its KEYS and ARGV. ``sent`` says the script may have run (set before
    sending it, cleared when the reply says it did not), ``used`` that admission took it
    over: one sent and not used may hold a slot, which :func:`release_unused` gives back.
    """

    slug: str
    concurrency: int
    token: str
    lua: str
    keys: list[str]
    args: list[Any]
    reply: Any = None
    sent: bool = False
    used: bool = False


def admit_request(
    slug: str,
    *,
    rate_per_minute: int | None,
    concurrency: int | None,
    burst: int | None = None,
    lease: float = DEFAULT_SLOT_LEASE,
    timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
    guard: str | None = None,
) -> AdmitRequest | None:
    """An :class:`AdmitRequest` for :func:`admission` with the same arguments; ``None`` where
    admission cannot run inside another script (no limits, or no Redis)."""
    if not (concurrency or rate_per_minute) or not isinstance(get_backend(), RedisBackend):
        return None
    token = ids.token()
    keys, args = admit_keys_args(
        slug,
        concurrency or 0,
        lease,
        token,
        (rate_per_minute or 0) / 60.0,
        max(1, burst or 1),
        timeout,
        guard,
    )
    return AdmitRequest(slug, concurrency or 0, token, scripts.ADMIT_LUA, keys, args)


def release_unused(request: AdmitRequest | None) -> None:
    """Give back the slot a request may hold when :func:`admission` never took it over: its
    reply was lost (Redis timed out after running it), or the call never got that far."""
    if request is None or not request.sent or request.used:
        return
    request.used = True  # once
    if request.concurrency:
        with contextlib.suppress(redis.RedisError):
            # Releasing a slot that was never taken does nothing.
            get_backend().release_slot(request.slug, request.token, request.concurrency)


@contextlib.contextmanager
def admission(
    slug: str,
    *,
    rate_per_minute: int | None,
    concurrency: int | None,
    burst: int | None = None,
    lease: float = DEFAULT_SLOT_LEASE,
    timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
    guard: str | None = None,
    tail: CallTail | None = None,
    request: AdmitRequest | None = None,
) -> Iterator[float]:
    """What one request needs: a concurrency slot and a due token, held for the block.

    :func:`concurrency_slot` plus :func:`acquire` in that order (slot first, so requests that
    waited for a slot cannot go out in a bunch), in one Redis round trip in the common case.
    Sleeps until the token is due and yields the seconds slept. Raises like those two.

    ``guard`` (Redis mode only, see :func:`supports_guard`) names a key whose existence
    refuses admission without taking anything: :class:`GuardKeyExists` is raised. The
    provider client passes the circuit breaker's key, which exists only while the circuit
    has something to say, so a healthy provider's breaker costs no round trip of its own.

    With ``tail`` (Redis mode), a block that ends normally queues the slot's release on it,
    to be sent with the call's other final writes (:mod:`providers.tail`); the caller must
    send the tail. A block that raises releases the slot at once.

    ``request``, from :func:`admit_request` with the same arguments, is used when its script
    already ran (its ``reply`` is set): admission starts from that reply, saving a round trip.
    """
    if not concurrency and not rate_per_minute:
        yield 0.0
        return
    backend = get_backend()
    token, first_reply = ids.token(), None
    if request is not None and request.reply is not None and not request.used:
        token, first_reply, request.used = request.token, request.reply, True
    with _redis_errors_as_temporary():
        status, wait = backend.admit(
            slug,
            concurrency or 0,
            lease,
            token,
            (rate_per_minute or 0) / 60.0,
            max(1, burst or 1),
            timeout,
            timeout,
            guard,
            first_reply,
        )
    if status == 3:
        raise GuardKeyExists(guard or "")
    if status == 0:
        raise TemporaryError(
            "concurrency_limited",
            f"{concurrency} calls to {slug} already in flight",
            retry_after=1.0,
        )
    if status == 2:
        raise TemporaryError(
            "rate_limited",
            f"rate limit of {rate_per_minute}/min for {slug} reached",
            retry_after=round(wait, 3),
        )
    try:
        if wait > 0:
            _sleep(wait)
        yield wait
    except BaseException:
        if concurrency:
            with contextlib.suppress(redis.RedisError):
                backend.release_slot(slug, token, concurrency)
        raise
    if concurrency:
        if tail is not None and isinstance(backend, RedisBackend):
            backend.release_slot_later(tail, slug, token, concurrency)
        else:
            with contextlib.suppress(redis.RedisError):
                backend.release_slot(slug, token, concurrency)


def take_quota(slug: str, daily_quota: int | None) -> QuotaTicket | None:
    """Count one call against today's (UTC) quota; ``ProviderFailure("quota_exhausted")`` if spent.

    Returns a ticket to :func:`refund_quota` when the call turns out not to be sent, or
    ``None`` when the provider has no quota.
    """
    if daily_quota is None:
        return None
    with _redis_errors_as_temporary():
        allowed, used, day = get_backend().take_quota(slug, daily_quota)
    if not allowed:
        raise ProviderFailure(
            "quota_exhausted", f"daily quota of {daily_quota} calls for {slug} used up ({used})"
        )
    return QuotaTicket(slug=slug, day=day)


def refund_quota(ticket: QuotaTicket | None) -> None:
    """Give back a unit taken by :func:`take_quota` for a call that was never sent."""
    if ticket is not None:
        with contextlib.suppress(redis.RedisError):
            get_backend().refund_quota(ticket.slug, ticket.day)


def quota_used(slug: str) -> int:
    """Calls counted against ``slug``'s quota today (UTC)."""
    return get_backend().quota_used(slug)


def slots_in_use(slug: str) -> int:
    """Calls to ``slug`` in flight right now, across all processes sharing the backend."""
    return get_backend().slots_in_use(slug)


def reset(slug: str) -> None:
    """Forget all limiter state for ``slug`` (bucket, leases, today's quota count)."""
    get_backend().reset(slug)
