"""The one way to call a data provider.

:func:`call_provider` (or :class:`ProviderClient` for repeated calls) wraps an adapter with
what protects the provider account and our money, in this order:

1. ``ENRICH_OFFLINE``, disabled providers and inputs the operation cannot use are refused;
2. the **stored answer** for the same question (:mod:`providers.answers`): a hit costs nothing
   and is one ledger row with ``cache_hit=True``; identical questions asked at once are asked
   once (single flight);
3. per attempt, in the calling thread:

   a. the **budget reservation** for the operation's price and the attempt's **intent row**
      in the ledger, in one transaction (:mod:`budgets.services`, :mod:`providers.ledger`); a
      call that would exceed a budget is refused here with ``budget_exhausted``;
   b. **admission** (:mod:`providers.limits`): circuit breaker, daily quota, a concurrency
      slot and the rate limit, shared by every process of the deployment;
   c. the request, through the adapter and the SSRF-guarded transport;
   d. the ledger row completed and the reservation settled with the real cost;

4. **retries** of temporary errors (tenacity) with exponential backoff and full jitter,
   honouring a longer ``Retry-After``; an operation that is not repeatable is never sent again
   once a request may have reached the provider, nor when an earlier attempt's row is still
   pending (a worker stopped mid-call).

Refusals before sending (limits, breaker, budget) raise without leaving a ledger row.
``use_cache=False`` ignores a stored answer (a forced refresh) and stores the fresh one.
Credentials are decrypted here and nowhere else, and registered with the log filter.
Call the client outside ``transaction.atomic`` blocks (see :mod:`providers.ledger`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import tenacity
from django.conf import settings
from django.db import transaction

from budgets import services as budgets
from config.logging import register_secret
from providers import answers, ledger, limits
from providers.adapters.base import Adapter, Operation, ProviderResult, Transport
from providers.errors import ClientError, ErrorKind, ProviderError, ProviderFailure
from providers.http import HttpTransport
from providers.models import Provider

if TYPE_CHECKING:
    from enrichment.models import JobItem

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 4
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
#: Longest a call waits for a rate-limit instant or a concurrency slot before giving up.
LIMIT_WAIT = 30.0

# Indirection so tests can record backoff sleeps.
_sleep = time.sleep

# One transport per thread and timeout: it keeps a connection per host, which threads must
# not share, and one per call would pay a TCP (and TLS) handshake each time.
_transports = threading.local()


def _thread_transport(timeout: float) -> Transport:
    pool: dict[float, HttpTransport] | None = getattr(_transports, "pool", None)
    if pool is None:
        pool = _transports.pool = {}
    if timeout not in pool:
        pool[timeout] = HttpTransport(timeout=timeout)
    return pool[timeout]


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
class CallContext:
    """Who a call is for: the budgets it spends from and the job item it belongs to."""

    job_item_id: int | None = None
    job_id: int | None = None
    project_id: int | None = None
    user_id: int | None = None

    @classmethod
    def of(
        cls,
        job_item: JobItem | None,
        project_id: int | None = None,
        user_id: int | None = None,
    ) -> CallContext:
        if job_item is None:
            return cls(project_id=project_id, user_id=user_id)
        job = job_item.job
        return cls(
            job_item_id=job_item.pk,
            job_id=job.pk,
            project_id=project_id or job.project_id,
            user_id=user_id or job.created_by_id,
        )


@dataclass(frozen=True)
class _Call:
    op: Operation
    #: Through Adapter.prepare_inputs once, for the checks, the answer key and every attempt.
    inputs: dict[str, Any]
    fingerprint: str
    context: CallContext


class _NotSent(Exception):
    """Internal: refused before anything was sent; never retried here."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.code)
        self.error = error


class ProviderClient:
    """Calls one provider; see the module docstring for what happens around each call.

    ``adapter_class`` defaults to the registered adapter for ``provider.adapter``; tests pass
    their own. ``transport`` defaults to a per-thread :class:`~providers.http.HttpTransport`
    with the provider's timeout.
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
        self.timeout = float(provider.timeout_seconds)
        self.limits = limits.Settings.of(provider)
        self._adapter_class = adapter_class
        self._adapter: Adapter | None = None

    def call(
        self,
        operation: str,
        inputs: Mapping[str, Any],
        *,
        job_item: JobItem | None = None,
        project_id: int | None = None,
        user_id: int | None = None,
        use_cache: bool = True,
    ) -> ProviderResult:
        """Answer ``operation`` for ``inputs``; raises :class:`ProviderError` subclasses."""
        if getattr(settings, "ENRICH_OFFLINE", False):
            raise ClientError("offline", "network calls are disabled (ENRICH_OFFLINE)")
        provider = self.provider
        if not provider.enabled:
            raise ClientError("provider_disabled", f"provider {provider.slug} is disabled")
        adapter = self._get_adapter()
        try:
            op = Operation(operation)
            spec = adapter.spec_for(op)
        except ValueError as exc:
            raise ClientError("invalid_request", str(exc)) from None
        prepared = adapter.prepare_inputs(inputs)
        absent = spec.missing(prepared)
        if absent:
            raise ClientError(
                "missing_field", f"{provider.slug} {operation} needs {', '.join(absent)}"
            )
        this = _Call(
            op,
            prepared,
            answers.fingerprint(adapter.fingerprint_prepared(op, prepared)),
            CallContext.of(job_item, project_id, user_id),
        )
        started = time.perf_counter()
        lookup = answers.get_or_call(
            provider,
            str(op),
            this.fingerprint,
            lambda renew: self._call_with_retries(this, renew),
            ttl=answers.ttl_for(provider),
            subjects=answers.subject_keys(prepared),
            lease=self._attempt_time(),
            # A leader may retry: wait about as long as its attempts can take.
            wait_timeout=min(300.0, self._longest_call()),
            use_cache=use_cache,
        )
        if not lookup.stored:
            return lookup.result
        ledger.record_cache_hit(
            provider_id=provider.pk,
            operation=str(op),
            input_fingerprint=this.fingerprint,
            latency_ms=(time.perf_counter() - started) * 1000,
            result=lookup.result,
            job_item_id=this.context.job_item_id,
        )
        result = lookup.result
        # This answer costs nothing now; the original price stays visible in ``extra``.
        return ProviderResult(
            found=result.found,
            fields=result.fields,
            raw=result.raw,
            cost=Decimal(0),
            credits_left=result.credits_left,
            http_status=result.http_status,
            extra={**result.extra, "cache_hit": True, "cached_cost": str(result.cost)},
        )

    # --- internals ------------------------------------------------------------------------

    def _attempt_time(self) -> float:
        """The longest one attempt can take: waiting for admission, then the request (the
        transport allows 3x the timeout)."""
        return _limit_wait() + self.timeout * 3 + 10

    def _longest_call(self) -> float:
        return self.max_attempts * (self._attempt_time() + BACKOFF_CAP)

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

    def _should_retry(self, exc: BaseException, this: _Call) -> bool:
        if not isinstance(exc, ProviderError) or not exc.retryable:
            return False
        if exc.http_status is None and not self._get_adapter().spec_for(this.op).repeatable:
            # No answer: the provider may have acted on it; sending again could act (and
            # bill) twice.
            return False
        # Longer than we hold a worker: let the caller (a Celery retry) wait instead.
        return exc.retry_after is None or exc.retry_after <= BACKOFF_CAP

    def _call_with_retries(self, this: _Call, renew: Callable[[], None]) -> ProviderResult:
        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return backoff_delay(state.attempt_number, getattr(error, "retry_after", None))

        def log_retry(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            logger.warning(
                "provider call failed, retrying",
                extra={
                    "provider": self.provider.slug,
                    "operation": str(this.op),
                    "attempt": state.attempt_number,
                    "error_code": getattr(error, "code", ""),
                    "http_status": getattr(error, "http_status", None),
                    "retry_in_s": round(state.upcoming_sleep, 3),
                },
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(lambda exc: self._should_retry(exc, this)),
            before_sleep=log_retry,
            sleep=lambda seconds: _sleep(seconds),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    renew()  # this caller still holds the question for one more attempt
                    result = self._attempt(this, attempt.retry_state.attempt_number)
        except _NotSent as refused:
            raise refused.error from None
        return result

    def _attempt(self, this: _Call, attempt: int) -> ProviderResult:
        provider, op = self.provider, str(this.op)
        spec = self._get_adapter().spec_for(this.op)
        price = max(provider.price_for(op), self._get_adapter().cost_for(this.op))
        if (price > 0 or not spec.repeatable) and ledger.unsettled(
            provider_id=provider.pk, operation=op, input_fingerprint=this.fingerprint
        ):
            # A worker stopped in the middle of this very call: it may have been billed (or
            # acted on), so it is not sent again until an admin resolves the pending row.
            raise _NotSent(
                ProviderFailure(
                    "unsettled_call",
                    f"an earlier {op} call to {provider.slug} for this input was sent and has "
                    "no recorded outcome (its worker stopped); it may have been billed, so it "
                    "is not sent again. Mark the pending ledger row abandoned to allow it.",
                )
            )
        context = this.context
        try:
            with transaction.atomic():
                call = ledger.open_attempt(
                    provider_id=provider.pk,
                    operation=op,
                    input_fingerprint=this.fingerprint,
                    attempt=attempt,
                    job_item_id=context.job_item_id,
                )
                reservation = budgets.spend_reserve(
                    amount=price,
                    ttl=timedelta(seconds=self._attempt_time() + 60),
                    project_id=context.project_id,
                    user_id=context.user_id,
                    job_id=context.job_id,
                    provider_call_id=call.pk,
                    description=f"{provider.slug} {op}",
                )
        except ProviderError as exc:
            raise _NotSent(exc) from None
        try:
            admission = limits.admit(self.limits, timeout=_limit_wait())
        except BaseException as exc:
            with transaction.atomic():
                budgets.spend_release(reservation)
                ledger.discard_attempt(call)
            if isinstance(exc, ProviderError):
                raise _NotSent(exc) from None
            raise
        transport = self.transport or _thread_transport(self.timeout)
        started = time.perf_counter()
        try:
            # A copy per attempt: an adapter may write to the dict it is given.
            result = self._get_adapter().call_prepared(this.op, dict(this.inputs), transport)
        except ProviderError as exc:
            error: ProviderError = exc
        except Exception as exc:
            # An adapter bug (a parser tripping on an unexpected shape): the row says so, and
            # the caller gets the taxonomy error it knows how to handle.
            logger.exception("adapter failed", extra={"provider": provider.slug, "operation": op})
            error = ProviderFailure(
                "malformed_response", f"{provider.slug} adapter failed: {type(exc).__name__}"
            )
            error.__cause__ = exc
        except BaseException:
            # Interrupted mid-call (a time limit): the intent row stays pending and the
            # reservation is released by beat when it expires.
            limits.release(admission, sent=True)
            raise
        else:
            # The attempt's final writes together: its row, its slot, its spend.
            with _final_writes(admission):
                ledger.close_attempt(call, latency_ms=_since(started), result=result)
                limits.release(admission, sent=True)
                budgets.spend_settle(reservation, cost=result.cost)
                if not admission.clean:
                    limits.record_success(provider.pk)
            return result
        with _final_writes(admission):
            ledger.close_attempt(call, latency_ms=_since(started), error=error)
            # A local refusal (a blocked address, offline) sent nothing: give the quota back.
            limits.release(admission, sent=not _refused_locally(error))
            budgets.spend_release(reservation)
            self._record_breaker(error, admission)
        raise error

    def _record_breaker(self, exc: ProviderError, admission: limits.Admission) -> None:
        if limits.counts_as_failure(exc):
            state = limits.record_failure(self.limits, trial=admission.trial)
            if state == limits.BreakerState.OPEN:
                logger.warning(
                    "circuit open", extra={"provider": self.provider.slug, "error_code": exc.code}
                )
        elif exc.http_status is not None and not admission.clean:
            # The provider answered (a 4xx): it is up, whatever it thought of the request.
            limits.record_success(self.provider.pk)


def call_provider(
    provider: Provider,
    operation: str,
    inputs: Mapping[str, Any],
    *,
    job_item: JobItem | None = None,
    project_id: int | None = None,
    user_id: int | None = None,
    use_cache: bool = True,
    transport: Transport | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> ProviderResult:
    """Call ``provider`` once through every safeguard; see :class:`ProviderClient`."""
    client = ProviderClient(provider, transport=transport, max_attempts=max_attempts)
    return client.call(
        operation,
        inputs,
        job_item=job_item,
        project_id=project_id,
        user_id=user_id,
        use_cache=use_cache,
    )


@contextmanager
def _final_writes(admission: limits.Admission) -> Iterator[None]:
    """An attempt's final writes (its row, its slot, its spend) in one transaction. If they
    fail, the slot is still given back: the row stays pending and beat releases the
    reservation, but a concurrency slot must not wait a minute for its lease to expire."""
    try:
        with transaction.atomic():
            yield
    except BaseException:
        limits.release(admission, sent=True)
        raise


def _limit_wait() -> float:
    return float(getattr(settings, "PROVIDER_LIMIT_WAIT_SECONDS", LIMIT_WAIT))


def _refused_locally(exc: ProviderError) -> bool:
    return exc.kind is ErrorKind.CLIENT and exc.http_status is None


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
