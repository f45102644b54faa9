"""How a provider is doing, derived from the call ledger and the live breaker and quota state.

Used by the admin and ``manage.py providers list``. Everything is computed from
:class:`~providers.models.ProviderCall` rows in a window (24 hours by default), so it needs no
extra bookkeeping: cache hits count towards the cache-hit rate only; success rate and latency
percentiles are over attempts actually sent to the provider (pending ones excluded).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Avg, Count, FloatField, Q, Sum
from django.utils import timezone

from providers import limits
from providers.models import CallStatus, Provider, ProviderCall

DEFAULT_WINDOW = timedelta(hours=24)
#: Latency percentiles outside PostgreSQL are computed from at most this many recent attempts.
PERCENTILE_SAMPLE = 10_000


@dataclass(frozen=True)
class ProviderHealth:
    slug: str
    since: datetime
    #: Attempts sent to the provider (retries count; cache hits do not).
    calls: int
    #: Attempts that got an answer, a match or a no-match.
    answered: int
    errors: int
    #: ``answered / calls``; ``None`` without calls.
    success_rate: float | None
    cache_hits: int
    #: ``cache_hits / (calls + cache_hits)``; ``None`` without lookups.
    cache_hit_rate: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    breaker_state: str
    #: Cost of calls since 00:00 UTC today, whatever ``since`` is.
    spend_today: Decimal
    #: Calls counted against the daily quota today; ``None`` without a quota.
    quota_used_today: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for ``providers list`` and the API."""
        return {
            "slug": self.slug,
            "since": self.since.isoformat(),
            "calls": self.calls,
            "answered": self.answered,
            "errors": self.errors,
            "success_rate": self.success_rate,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": self.cache_hit_rate,
            "p50_latency_ms": self.p50_latency_ms,
            "p95_latency_ms": self.p95_latency_ms,
            "breaker_state": self.breaker_state,
            "spend_today": str(self.spend_today),
            "quota_used_today": self.quota_used_today,
        }


class PercentileCont(Aggregate):
    """PostgreSQL ``percentile_cont(f) WITHIN GROUP (ORDER BY expr)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be between 0 and 1")
        super().__init__(expression, fraction=float(fraction), **extra)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (the same definition as ``percentile_cont``)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def provider_health(
    provider: Provider, since: timedelta | datetime = DEFAULT_WINDOW
) -> ProviderHealth:
    """Health of ``provider`` over the window ``since`` (a duration back from now, or a time)."""
    now = timezone.now()
    start = now - since if isinstance(since, timedelta) else since
    rows = ProviderCall.objects.filter(provider=provider, created_at__gte=start)
    counts = rows.aggregate(
        calls=Count("id", filter=Q(cache_hit=False) & ~Q(status=CallStatus.PENDING)),
        answered=Count(
            "id",
            filter=Q(cache_hit=False, status__in=[CallStatus.SUCCESS, CallStatus.NO_MATCH]),
        ),
        errors=Count("id", filter=Q(cache_hit=False, status=CallStatus.ERROR)),
        cache_hits=Count("id", filter=Q(cache_hit=True)),
    )
    p50, p95 = _latency_percentiles(rows.filter(cache_hit=False))

    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spend = ProviderCall.objects.filter(provider=provider, created_at__gte=midnight).aggregate(
        total=Sum("cost")
    )["total"]

    calls, cache_hits = counts["calls"], counts["cache_hits"]
    lookups = calls + cache_hits
    return ProviderHealth(
        slug=provider.slug,
        since=start,
        calls=calls,
        answered=counts["answered"],
        errors=counts["errors"],
        success_rate=counts["answered"] / calls if calls else None,
        cache_hits=cache_hits,
        cache_hit_rate=cache_hits / lookups if lookups else None,
        p50_latency_ms=p50,
        p95_latency_ms=p95,
        breaker_state=_safe(lambda: limits.breaker_state(provider), "unknown"),
        # SQLite sums decimals as floats-turned-Decimal with long tails: back to the column's scale.
        spend_today=(spend or Decimal(0)).quantize(Decimal("0.0001")),
        quota_used_today=(
            None
            if provider.daily_quota is None
            else _safe(lambda: limits.quota_used(provider), None)
        ),
    )


def _latency_percentiles(attempts: Any) -> tuple[float | None, float | None]:
    if connection.vendor == "postgresql":
        agg = attempts.aggregate(
            p50=PercentileCont("latency_ms", 0.5), p95=PercentileCont("latency_ms", 0.95)
        )
        return agg["p50"], agg["p95"]
    # Elsewhere (SQLite in the embedded mode): a bounded sample of the most recent attempts.
    latencies = list(
        attempts.order_by("-created_at").values_list("latency_ms", flat=True)[:PERCENTILE_SAMPLE]
    )
    return percentile(latencies, 0.5), percentile(latencies, 0.95)


def _safe(read: Any, default: Any) -> Any:
    # A page listing providers must render even when the live state cannot be read.
    try:
        return read()
    except Exception:  # noqa: BLE001
        return default


def provider_rank_stats(slugs: Sequence[str], since: timedelta = timedelta(days=30)) -> dict:
    """Per provider over the window, for ranking a waterfall: attempts sent (answered or
    failed), answers that found something, their cost and the mean latency; one query."""
    rows = (
        ProviderCall.objects.filter(
            provider__slug__in=list(slugs),
            created_at__gte=timezone.now() - since,
            cache_hit=False,
        )
        .exclude(status=CallStatus.PENDING)
        .values("provider__slug")
        .annotate(
            attempts=Count("id"),
            found=Count("id", filter=Q(status=CallStatus.SUCCESS)),
            cost=Sum("cost"),
            latency_ms=Avg("latency_ms"),
        )
    )
    return {
        row["provider__slug"]: {
            "attempts": row["attempts"],
            "found": row["found"],
            "cost": float(row["cost"] or 0),
            "latency_ms": float(row["latency_ms"] or 0),
        }
        for row in rows
    }
