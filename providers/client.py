"""The one way to call a data provider.

:func:`call_provider` (or :class:`ProviderClient` for repeated calls) wraps an adapter with
everything that protects the provider account and our money, in this order:

1. ``ENRICH_OFFLINE`` and disabled providers are refused before anything else;
2. the input **fingerprint** (sha256 of the adapter's normalised inputs);
3. the **response cache**; a hit is written to the ledger with ``cache_hit=True`` and cost 0;
4. **single flight**: concurrent identical questions make one paid call (:mod:`providers.cache`);
5. per attempt: the **circuit breaker**, the **daily quota**, then a **concurrency slot**
   together with a **rate-limit token** (one Redis round trip; :mod:`providers.breaker`,
   :mod:`providers.ratelimit`; for a healthy provider without a quota, the first attempt's
   runs inside the cache read of step 3), then ``adapter.call`` through the transport;
6. a **ledger row** (:class:`~providers.models.ProviderCall`) for every attempt sent, recorded
   through :mod:`providers.ledger` (buffered in Redis, inserted in batches);
7. **retries** of temporary errors with exponential backoff and full jitter, honouring a
   longer ``Retry-After``; other errors are raised at once;
8. the answer goes into the cache, in one pipelined round trip with the slot's release and
   the ledger row (:mod:`providers.tail`).

Limits, the breaker and the cache are refusals *before* a request is sent: they raise
``TemporaryError`` (``circuit_open``, ``rate_limited``, ``concurrency_limited``) or
``ProviderFailure("quota_exhausted")`` without a ledger row, since nothing was sent or paid.

``use_cache=False`` skips the cache read (a forced refresh) and stores the fresh answer.
Credentials are decrypted here and nowhere else, and registered with the log filter.

Call the client outside ``transaction.atomic`` blocks: where ledger rows are written directly
(no Redis), a rollback of the caller's work would also erase the record of a call that was paid
for.

Per-provider tuning lives in ``Provider.config``: ``rate_limit_burst`` (token-bucket size,
default 1 = evenly spaced requests), ``breaker_threshold`` (default 5) and
``breaker_cooldown_seconds`` (default 30).
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings

from config.logging import register_secret
from providers import breaker, cache, ledger, ratelimit
from providers.adapters.base import Adapter, Operation, ProviderResult, Transport
from providers.errors import ClientError, ProviderError, ProviderFailure
from providers.http import HttpTransport
from providers.models import CallStatus, Provider
from providers.tail import CallTail

if TYPE_CHECKING:
    from enrichment.models import JobItem

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 4
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
#: Longest a call waits for a rate-limit token or a concurrency slot before giving up.
LIMIT_WAIT = 30.0

# Indirection so tests can record backoff sleeps and the benchmark can account for them.
_sleep = time.sleep

# A transport keeps one connection per host, so threads sharing one would open and drop extra
# connections, and one per call would pay a TCP (and TLS) handshake each time: each thread
# keeps one transport per timeout value.
_transports = threading.local()


def _thread_transport(timeout: float) -> Transport:
    pool: dict[float, HttpTransport] | None = getattr(_transports, "pool", None)
    if pool is None:
        pool = _transports.pool = {}
    transport = pool.get(timeout)
    if transport is None:
        transport = pool[timeout] = HttpTransport(timeout=timeout)
    return transport


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): full jitter, or ``retry_after``.

    Full jitter (uniform between 0 and the exponential step) spreads retries of many workers
    that failed together; the provider's own ``Retry-After`` wins when it asks for longer.
    """
    delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay


@dataclass(frozen=True)
class _Call:
    """One call's question and the Redis work it shares across its attempts."""

    adapter: Adapter
    op: Operation
    #: Through Adapter.prepare_inputs once, for the checks, the cache key and every attempt.
    inputs: dict[str, Any]
    fingerprint: str
    job_item: JobItem | None
    #: Final writes sent together (providers.tail); None without Redis.
    tail: CallTail | None
    #: The first attempt's admission, run with the cache read (guarded path only).
    request: ratelimit.AdmitRequest | None


class _NotSent(Exception):
    """Internal: a limit refused the attempt before anything was sent; never retried."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.code)
        self.error = error


class ProviderClient:
    """Calls one provider; see the module docstring for what happens around each call.

    ``adapter_class`` defaults to the registered adapter for ``provider.adapter``; tests pass
    their own. ``transport`` defaults to a per-thread :class:`~providers.http.HttpTransport` with the
    provider's timeout.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        transport: Transport | None = None,
        adapter_class: type[Adapter] | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.provider = provider
        self.transport = transport
        self.max_attempts = max(1, max_attempts)
        self._adapter_class = adapter_class
        self._adapter: Adapter | None = None
        config = provider.config or {}
        self.burst = _positive_int(config.get("rate_limit_burst"), 1)
        self.breaker_threshold = _positive_int(
            config.get("breaker_threshold"), breaker.DEFAULT_THRESHOLD
        )
        self.breaker_cooldown = _positive_float(
            config.get("breaker_cooldown_seconds"), breaker.DEFAULT_COOLDOWN
        )
        self.timeout = float(provider.timeout_seconds)
        self._options: dict[bool, dict[str, Any]] = {}

    # --- public ---------------------------------------------------------------------------

    def call(
        self,
        operation: str,
        inputs: Mapping[str, Any],
        *,
        job_item: JobItem | None = None,
        use_cache: bool = True,
    ) -> ProviderResult:
        """Answer ``operation`` for ``inputs``; raises :class:`ProviderError` subclasses."""
        if getattr(settings, "ENRICH_OFFLINE", False):
            raise ClientError("offline", "network calls are disabled (ENRICH_OFFLINE)")
        provider = self.provider
        if not provider.enabled:
            raise ClientError("provider_disabled", f"provider {provider.slug} is disabled")
        adapter = self._get_adapter()
        prepared = adapter.prepare_inputs(inputs)
        # Refuse what the adapter would refuse before a token or quota unit is spent on it.
        absent = adapter.spec_for(operation).missing(prepared)
        if absent:
            raise ClientError(
                "missing_field", f"{provider.slug} {operation} needs {', '.join(absent)}"
            )
        op = Operation(operation)
        input_fingerprint = cache.fingerprint(adapter.fingerprint_prepared(op, prepared))
        key = cache.cache_key(provider.slug, op, input_fingerprint)

        started = time.perf_counter()
        # The final writes of a paid call (slot release, ledger row, cache store) share one
        # round trip: see providers.tail.
        this = _Call(
            adapter,
            op,
            prepared,
            input_fingerprint,
            job_item,
            tail=CallTail.for_settings(),
            # Likewise the first admission attempt rides on the cache read when it misses.
            request=self._admit_request(),
        )
        try:
            lookup = cache.get_or_call(
                key,
                lambda: self._call_with_retries(this),
                ttl=cache.ttl_for(provider),
                # A leader may retry: wait about as long as its attempts can take.
                wait_timeout=min(300.0, self.timeout * self.max_attempts + 5),
                use_cache=use_cache,
                tail=this.tail,
                on_lead=this.request,
            )
        finally:
            if this.tail is not None:
                this.tail.send()  # whatever the cache's store did not send
            ratelimit.release_unused(this.request)  # a slot admitted for a call not made
        if not lookup.cache_hit:
            ledger.drain_if_due()
            return lookup.result
        latency_ms = (time.perf_counter() - started) * 1000
        self._write_ledger(
            this, attempt=1, latency_ms=latency_ms, result=lookup.result, cache_hit=True
        )
        ledger.drain_if_due()
        result = lookup.result
        # This answer costs nothing now; the original price stays visible in ``extra``.
        extra = {**result.extra, "cache_hit": True, "cached_cost": str(result.cost)}
        return ProviderResult(
            found=result.found,
            fields=result.fields,
            raw=result.raw,
            cost=Decimal(0),
            credits_left=result.credits_left,
            http_status=result.http_status,
            extra=extra,
        )

    # --- internals ------------------------------------------------------------------------

    def _get_adapter(self) -> Adapter:
        if self._adapter is None:
            adapter_class = self._adapter_class
            if adapter_class is None:
                from providers.adapters import get_adapter_class

                try:
                    adapter_class = get_adapter_class(self.provider.adapter)
                except ValueError as exc:
                    raise ClientError("invalid_request", str(exc)) from None
            credentials = self.provider.get_credentials() if self.provider.has_credentials else {}
            for value in credentials.values():
                register_secret(str(value))
            self._adapter = adapter_class(
                base_url=self.provider.base_url or None,
                credentials=credentials,
                config=self.provider.config or {},
                provider_id=self.provider.pk,
            )
        return self._adapter

    def _call_with_retries(self, this: _Call) -> ProviderResult:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._attempt(this, attempt)
            except _NotSent as refused:
                raise refused.error from None
            except ProviderError as exc:
                if not exc.retryable or attempt >= self.max_attempts:
                    raise
                if exc.http_status is None and not this.adapter.spec_for(this.op).repeatable:
                    # No answer: the provider may have acted on it; sending again could
                    # act (and bill) twice.
                    raise
                if exc.retry_after is not None and exc.retry_after > BACKOFF_CAP:
                    # Longer than we hold a worker: let the caller (a Celery retry) wait.
                    raise
                delay = backoff_delay(attempt, exc.retry_after)
                logger.warning(
                    "provider call failed, retrying",
                    extra={
                        "provider": self.provider.slug,
                        "operation": str(this.op),
                        "attempt": attempt,
                        "error_code": exc.code,
                        "http_status": exc.http_status,
                        "retry_in_s": round(delay, 3),
                    },
                )
                _sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(self, this: _Call, attempt: int) -> ProviderResult:
        send = functools.partial(self._send, this, attempt)
        provider = self.provider
        if self._guarded():
            # The common case in one round trip: admission refuses, taking nothing, while the
            # circuit has any state; a healthy circuit has none, so no permit is needed. The
            # first attempt's admission may already have run with the cache read (request).
            try:
                return self._admitted(
                    send,
                    breaker.Permit(provider.slug),
                    guarded=True,
                    tail=this.tail,
                    request=this.request,
                )
            except ratelimit.GuardKeyExists:
                pass  # the breaker has something to say: ask it, as below
        try:
            permit = breaker.before_call(
                provider.slug, cooldown=self.breaker_cooldown, trial_lease=self.timeout * 3 + 5
            )
        except ProviderError as exc:
            raise _NotSent(exc) from None
        try:
            ticket = ratelimit.take_quota(provider.slug, provider.daily_quota)
        except ProviderError as exc:
            breaker.release_trial(permit)
            raise _NotSent(exc) from None

        def unsent() -> None:
            ratelimit.refund_quota(ticket)
            breaker.release_trial(permit)

        return self._admitted(send, permit, guarded=False, on_unsent=unsent, tail=this.tail)

    def _guarded(self) -> bool:
        """Whether admission can stand in for the breaker (and the quota): see :meth:`_attempt`."""
        provider = self.provider
        limited = bool(provider.rate_limit_per_minute or provider.concurrency)
        # A quota of 0 means "no calls", so only an absent quota skips the quota's round trip.
        return limited and provider.daily_quota is None and ratelimit.supports_guard()

    def _admission_options(self, guarded: bool) -> dict[str, Any]:
        # Made once per client and mode, from the provider as it was at the first call.
        options = self._options.get(guarded)
        if options is None:
            options = self._options[guarded] = self._make_admission_options(guarded)
        return options

    def _make_admission_options(self, guarded: bool) -> dict[str, Any]:
        provider = self.provider
        return {
            "rate_per_minute": provider.rate_limit_per_minute,
            "concurrency": provider.concurrency,
            "burst": self.burst,
            # Longer than a call can last (the transport allows 3x the timeout).
            "lease": self.timeout * 3 + 10,
            "timeout": LIMIT_WAIT,
            "guard": breaker.state_key(provider.slug) if guarded else None,
        }

    def _admit_request(self) -> ratelimit.AdmitRequest | None:
        """The first attempt's admission, to run with the cache read (guarded path only)."""
        if not self._guarded():
            return None
        return ratelimit.admit_request(self.provider.slug, **self._admission_options(True))

    def _admitted(
        self,
        send: Callable[[breaker.Permit], ProviderResult],
        permit: breaker.Permit,
        *,
        guarded: bool,
        on_unsent: Callable[[], None] | None = None,
        tail: CallTail | None = None,
        request: ratelimit.AdmitRequest | None = None,
    ) -> ProviderResult:
        """``send(permit)`` inside the provider's rate and concurrency limits.

        A refusal before sending is a :class:`_NotSent`; :class:`ratelimit.GuardKeyExists`
        passes through for the caller to take the breaker's path. ``on_unsent`` runs when the
        request never went out, whatever stopped it (a refusal, or a soft time limit or an
        interrupt while waiting for a token or a slot), to give back what was taken for it.
        """
        provider = self.provider
        entered = False
        try:
            with ratelimit.admission(
                provider.slug, **self._admission_options(guarded), tail=tail, request=request
            ):
                entered = True
                return send(permit)
        except BaseException as exc:
            if entered:
                raise
            if on_unsent is not None:
                on_unsent()
            if isinstance(exc, ProviderError):
                raise _NotSent(exc) from None
            raise

    def _send(self, this: _Call, attempt: int, permit: breaker.Permit) -> ProviderResult:
        transport = self.transport or _thread_transport(self.timeout)
        started = time.perf_counter()
        try:
            # A copy per attempt: an adapter may write to the dict it is given.
            result = this.adapter.call_prepared(this.op, dict(this.inputs), transport)
        except ProviderError as exc:
            latency_ms = (time.perf_counter() - started) * 1000
            self._record_breaker(exc, permit)
            self._write_ledger(this, attempt=attempt, latency_ms=latency_ms, error=exc)
            raise
        except Exception as exc:
            # An adapter bug (a parser tripping on an unexpected shape): the row says so, and
            # the caller gets the taxonomy error it knows how to handle.
            latency_ms = (time.perf_counter() - started) * 1000
            logger.exception(
                "adapter failed",
                extra={"provider": self.provider.slug, "operation": str(this.op)},
            )
            failure = ProviderFailure(
                "malformed_response", f"{self.provider.slug} adapter failed: {type(exc).__name__}"
            )
            breaker.release_trial(permit)
            self._write_ledger(this, attempt=attempt, latency_ms=latency_ms, error=failure)
            raise failure from exc
        latency_ms = (time.perf_counter() - started) * 1000
        if permit.trial or permit.dirty:
            breaker.record_success(self.provider.slug)
        # The row of an answered attempt goes out with the call's final writes.
        self._write_ledger(this, attempt=attempt, latency_ms=latency_ms, result=result, tail=True)
        return result

    def _record_breaker(self, exc: ProviderError, permit: breaker.Permit) -> None:
        slug = self.provider.slug
        if breaker.counts_as_failure(exc):
            state = breaker.record_failure(
                slug, threshold=self.breaker_threshold, cooldown=self.breaker_cooldown
            )
            if state == breaker.BreakerState.OPEN:
                logger.warning("circuit open", extra={"provider": slug, "error_code": exc.code})
        elif exc.http_status is not None:
            # The provider answered (a 4xx): it is up, whatever it thought of the request.
            if permit.trial or permit.dirty:
                breaker.record_success(slug)
        else:
            # Refused locally (offline, blocked address, missing input): nothing learned.
            breaker.release_trial(permit)

    def _write_ledger(
        self,
        this: _Call,
        *,
        attempt: int,
        latency_ms: float,
        result: ProviderResult | None = None,
        error: ProviderError | None = None,
        cache_hit: bool = False,
        tail: bool = False,
    ) -> None:
        if result is not None:
            status = CallStatus.SUCCESS if result.found else CallStatus.NO_MATCH
            cost = Decimal(0) if cache_hit else result.cost
            http_status, credits_left = result.http_status, result.credits_left
            error_kind = error_code = ""
        else:
            assert error is not None
            status, cost, credits_left = CallStatus.ERROR, Decimal(0), None
            http_status, error_kind, error_code = error.http_status, str(error.kind), error.code
        ledger.record(
            tail=this.tail if tail else None,
            provider_id=self.provider.pk,
            operation=str(this.op),
            input_fingerprint=this.fingerprint,
            status=str(status),
            error_kind=error_kind,
            error_code=error_code[:64],
            http_status=http_status if http_status and 0 < http_status < 1000 else None,
            latency_ms=max(0, round(latency_ms)),
            cost=_fit(cost, 10, 4) or Decimal(0),
            credits_left=_fit(credits_left, 14, 2),
            cache_hit=cache_hit,
            attempt=attempt,
            job_item_id=this.job_item.pk if this.job_item is not None else None,
        )
        if not logger.isEnabledFor(logging.INFO):
            return
        logger.info(
            "provider call",
            extra={
                "provider": self.provider.slug,
                "operation": str(this.op),
                "attempt": attempt,
                "status": str(status),
                "error_code": error_code,
                "http_status": http_status,
                "latency_ms": round(latency_ms, 1),
                "cost": str(cost),
                "cache_hit": cache_hit,
            },
        )


def call_provider(
    provider: Provider,
    operation: str,
    inputs: Mapping[str, Any],
    *,
    job_item: JobItem | None = None,
    use_cache: bool = True,
    transport: Transport | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> ProviderResult:
    """Call ``provider`` once through every safeguard; see :class:`ProviderClient`."""
    client = ProviderClient(provider, transport=transport, max_attempts=max_attempts)
    return client.call(operation, inputs, job_item=job_item, use_cache=use_cache)


# --- helpers -------------------------------------------------------------------------------


def _fit(value: Decimal | None, max_digits: int, places: int) -> Decimal | None:
    """``value`` rounded to the column's places, or ``None`` if it cannot fit the column."""
    if value is None:
        return None
    quantum, bound = _column_limits(max_digits, places)
    try:
        rounded = Decimal(value).quantize(quantum)
    except ArithmeticError:
        return None
    if rounded.is_nan() or abs(rounded) >= bound:
        return None
    return rounded


@functools.cache
def _column_limits(max_digits: int, places: int) -> tuple[Decimal, Decimal]:
    """A decimal column's quantum (``0.0001`` for 4 places) and the first value too big."""
    return Decimal(1).scaleb(-places), Decimal(10) ** (max_digits - places)


def _positive_int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _positive_float(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
