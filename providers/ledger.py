"""The call ledger: one :class:`~providers.models.ProviderCall` row per attempt, in the database.

An attempt's row is inserted as ``pending`` before the request goes out (:func:`open_attempt`)
and completed with its outcome after (:func:`close_attempt`), in the same way in both modes:
a worker killed mid-call leaves a pending row saying the call may have been made. A cache hit
is one completed row (:func:`record_cache_hit`). Rows are written on the caller's own
connection, so call providers outside ``transaction.atomic`` blocks: a rollback of the
caller's work must not erase the record of a call that was paid for.
"""

from __future__ import annotations

import functools
import logging
from decimal import Decimal
from typing import Any

from providers.adapters.base import ProviderResult
from providers.errors import ProviderError
from providers.models import CallStatus, ProviderCall

logger = logging.getLogger(__name__)


def open_attempt(
    *,
    provider_id: int,
    operation: str,
    input_fingerprint: str,
    attempt: int,
    job_item_id: int | None,
) -> ProviderCall:
    """The intent row of an attempt about to be sent."""
    return ProviderCall.objects.create(
        provider_id=provider_id,
        operation=operation,
        input_fingerprint=input_fingerprint,
        status=CallStatus.PENDING,
        attempt=attempt,
        job_item_id=job_item_id,
    )


def close_attempt(
    call: ProviderCall,
    *,
    latency_ms: float,
    result: ProviderResult | None = None,
    error: ProviderError | None = None,
) -> ProviderCall:
    """Complete ``call`` with the attempt's answer or error."""
    _fill(call, latency_ms=latency_ms, result=result, error=error)
    call.save(
        update_fields=[
            "status",
            "error_kind",
            "error_code",
            "http_status",
            "latency_ms",
            "cost",
            "credits_left",
        ]
    )
    _log(call)
    return call


def discard_attempt(call: ProviderCall) -> None:
    """Remove the intent row of an attempt that was refused before anything was sent."""
    ProviderCall.objects.filter(pk=call.pk, status=CallStatus.PENDING).delete()


def record_cache_hit(
    *,
    provider_id: int,
    operation: str,
    input_fingerprint: str,
    latency_ms: float,
    result: ProviderResult,
    job_item_id: int | None,
) -> ProviderCall:
    """The row of a question answered from a stored answer: nothing sent, cost 0."""
    call = ProviderCall(
        provider_id=provider_id,
        operation=operation,
        input_fingerprint=input_fingerprint,
        cache_hit=True,
        job_item_id=job_item_id,
    )
    _fill(call, latency_ms=latency_ms, result=result)
    call.cost = Decimal(0)
    call.save()
    _log(call)
    return call


def unsettled(*, provider_id: int, operation: str, input_fingerprint: str) -> bool:
    """Whether an earlier attempt at this question was sent and never completed."""
    return ProviderCall.objects.filter(
        provider_id=provider_id,
        operation=operation,
        input_fingerprint=input_fingerprint,
        status=CallStatus.PENDING,
    ).exists()


def abandon_attempts(call_ids: Any) -> int:
    """Resolve pending rows an admin checked were not billed, so the call may be sent again."""
    return ProviderCall.objects.filter(pk__in=list(call_ids), status=CallStatus.PENDING).update(
        status=CallStatus.ERROR, error_kind="client", error_code="abandoned"
    )


def _fill(
    call: ProviderCall,
    *,
    latency_ms: float,
    result: ProviderResult | None = None,
    error: ProviderError | None = None,
) -> None:
    call.latency_ms = max(0, round(latency_ms))
    if result is not None:
        call.status = CallStatus.SUCCESS if result.found else CallStatus.NO_MATCH
        call.cost = _fit(result.cost, 10, 4) or Decimal(0)
        call.credits_left = _fit(result.credits_left, 14, 2)
        call.http_status = _status(result.http_status)
        call.error_kind = call.error_code = ""
        return
    assert error is not None
    call.status = CallStatus.ERROR
    call.cost = Decimal(0)
    call.credits_left = None
    call.http_status = _status(error.http_status)
    call.error_kind = str(error.kind)[:32]
    call.error_code = error.code[:64]


def _status(value: int | None) -> int | None:
    return value if value and 0 < value < 1000 else None


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
    return Decimal(1).scaleb(-places), Decimal(10) ** (max_digits - places)


def _log(call: ProviderCall) -> None:
    extra: dict[str, Any] = {
        "provider_id": call.provider_id,
        "operation": call.operation,
        "attempt": call.attempt,
        "status": call.status,
        "error_code": call.error_code,
        "http_status": call.http_status,
        "latency_ms": call.latency_ms,
        "cost": str(call.cost),
        "cache_hit": call.cache_hit,
    }
    logger.info("provider call", extra=extra)
