"""Provider health derived from the ledger, the breaker and the quota counter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from providers import limits
from providers.health import PercentileCont, percentile, provider_health, provider_rank_stats
from providers.models import CallStatus, ProviderCall
from tests.providers import _client_support as support


@pytest.fixture
def provider(db):
    return support.make_provider("http://127.0.0.1:9")


def ledger(provider, status=CallStatus.SUCCESS, latency_ms=10, cost="0", cache_hit=False, ago=None):
    row = ProviderCall.objects.create(
        provider=provider,
        operation="find_email",
        input_fingerprint="0" * 64,
        status=status,
        latency_ms=latency_ms,
        cost=Decimal(cost),
        cache_hit=cache_hit,
    )
    if ago is not None:
        ProviderCall.objects.filter(pk=row.pk).update(created_at=timezone.now() - ago)
    return row


# --- percentile (no database) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7], 0.95, 7.0),
        ([10, 20, 30, 40], 0.5, 25.0),
        ([40, 10, 30, 20, 100], 0.95, 88.0),
        ([1, 2, 3], 0.0, 1.0),
        ([1, 2, 3], 1.0, 3.0),
    ],
)
def test_percentile_interpolates_like_percentile_cont(values, fraction, expected):
    assert percentile(values, fraction) == (None if expected is None else pytest.approx(expected))


def test_percentile_cont_rejects_a_fraction_outside_zero_to_one():
    with pytest.raises(ValueError):
        PercentileCont("latency_ms", 1.5)


# --- provider_health --------------------------------------------------------------------------------


@pytest.mark.integration
def test_it_sums_up_the_window(provider):
    for latency in (10, 20, 30):
        ledger(provider, latency_ms=latency, cost="0.0100")
    ledger(provider, status=CallStatus.NO_MATCH, latency_ms=40)
    ledger(provider, status=CallStatus.ERROR, latency_ms=100)
    ledger(provider, cache_hit=True, latency_ms=1)
    ledger(provider, cache_hit=True, latency_ms=1)
    ledger(provider, latency_ms=5000, cost="1", ago=timedelta(days=3))  # outside the window

    health = provider_health(provider)

    assert (health.calls, health.answered, health.errors, health.cache_hits) == (5, 4, 1, 2)
    assert health.success_rate == pytest.approx(0.8)
    assert health.cache_hit_rate == pytest.approx(2 / 7)
    assert health.p50_latency_ms == pytest.approx(30)
    assert health.p95_latency_ms == pytest.approx(88)
    assert health.breaker_state == "closed"
    assert health.quota_used_today is None


@pytest.mark.integration
def test_the_database_and_python_percentiles_agree(provider):
    if connection.vendor != "postgresql":
        pytest.skip("percentile_cont is PostgreSQL's")
    latencies = [3, 9, 14, 15, 27, 31, 48, 52, 77, 250]
    for latency in latencies:
        ledger(provider, latency_ms=latency)

    agg = ProviderCall.objects.filter(provider=provider).aggregate(
        p50=PercentileCont("latency_ms", 0.5), p95=PercentileCont("latency_ms", 0.95)
    )

    assert agg["p50"] == pytest.approx(percentile(latencies, 0.5))
    assert agg["p95"] == pytest.approx(percentile(latencies, 0.95))


@pytest.mark.integration
def test_spend_today_counts_from_midnight_utc(provider):
    now = timezone.now()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ledger(provider, cost="0.2500")
    ledger(provider, cost="0.0100")
    ledger(provider, cost="0", cache_hit=True)
    yesterday = ledger(provider, cost="9")
    ProviderCall.objects.filter(pk=yesterday.pk).update(created_at=midnight - timedelta(seconds=1))

    assert provider_health(provider).spend_today == Decimal("0.2600")


@pytest.mark.integration
def test_an_idle_provider_has_no_rates(provider):
    health = provider_health(provider, since=datetime.now(UTC) - timedelta(hours=1))

    assert (health.calls, health.cache_hits) == (0, 0)
    assert health.success_rate is None
    assert health.cache_hit_rate is None
    assert health.p50_latency_ms is None
    assert health.spend_today == Decimal(0)
    assert health.as_dict()["spend_today"] == "0.0000"


def test_it_reports_the_breaker_and_the_quota(provider):
    provider.daily_quota = 10
    provider.save()
    settings = limits.Settings.of(provider)
    limits.release(limits.admit(settings, timeout=1), sent=True)
    for _ in range(5):
        limits.record_failure(settings, trial=False)

    health = provider_health(provider)

    assert health.breaker_state == "open"
    assert health.quota_used_today == 1


def test_a_call_still_in_flight_is_not_counted_as_an_attempt(provider):
    ledger(provider)
    ledger(provider, status=CallStatus.PENDING)

    assert provider_health(provider).calls == 1


def test_rank_stats_count_what_each_provider_found_and_cost(provider):
    ledger(provider, cost="0.0300", latency_ms=100)
    ledger(provider, status=CallStatus.NO_MATCH, latency_ms=300)
    ledger(provider, status=CallStatus.PENDING)
    ledger(provider, cache_hit=True)

    stats = provider_rank_stats([provider.slug])

    assert stats == {provider.slug: {"attempts": 2, "found": 1, "cost": 0.03, "latency_ms": 200.0}}
