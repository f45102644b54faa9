"""A provider's shared limits in the database: rate, slots, quota, breaker (one process here;
tests/providers/test_processes.py runs them across processes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from providers import limits
from providers.errors import ProviderFailure, TemporaryError
from providers.models import ProviderLease, ProviderState
from tests.providers import _client_support as support

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Clock:
    """The limits' clock, moved by hand; sleeps are recorded and move it."""

    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(limits, "_now", clock)
    monkeypatch.setattr(limits, "_sleep", clock.sleep)
    return clock


def settings_for(**fields):
    return limits.Settings.of(support.make_provider("http://127.0.0.1:9", **fields))


def test_requests_are_spaced_evenly_at_the_rate(clock):
    rate = settings_for(rate_limit_per_minute=120, concurrency=100)

    for _ in range(4):
        limits.admit(rate, timeout=10)

    assert clock.slept == [0.5, 0.5, 0.5]


def test_a_burst_goes_out_at_once_then_the_pace_resumes(clock):
    rate = settings_for(rate_limit_per_minute=60, concurrency=100, config={"rate_limit_burst": 3})

    for _ in range(4):
        limits.admit(rate, timeout=10)

    assert clock.slept == [1.0]


def test_a_wait_longer_than_the_timeout_is_refused_without_booking_it(clock):
    rate = settings_for(rate_limit_per_minute=6, concurrency=100)
    limits.admit(rate, timeout=30)

    with pytest.raises(TemporaryError) as excinfo:
        limits.admit(rate, timeout=5)

    assert excinfo.value.code == "rate_limited"
    assert excinfo.value.retry_after == pytest.approx(10)
    # The refused caller booked nothing: the next instant is still 10 s after the first.
    limits.admit(rate, timeout=30)
    assert clock.slept == [10.0]


def test_calls_in_flight_are_capped_and_a_released_slot_is_reused(clock):
    two = settings_for(concurrency=2)
    first = limits.admit(two, timeout=1)
    limits.admit(two, timeout=1)

    with pytest.raises(TemporaryError) as excinfo:
        limits.admit(two, timeout=0.05)
    assert excinfo.value.code == "concurrency_limited"

    limits.release(first, sent=True)
    limits.admit(two, timeout=1)
    assert ProviderLease.objects.count() == 2


def test_the_slot_of_a_worker_that_died_expires(clock):
    one = settings_for(concurrency=1, timeout_seconds=2)
    limits.admit(one, timeout=1)  # never released

    clock.now += timedelta(seconds=one.lease + 1)

    limits.admit(one, timeout=1)
    assert ProviderLease.objects.count() == 1


def test_the_daily_quota_counts_per_utc_day_and_refunds_what_was_not_sent(clock):
    quota = settings_for(daily_quota=2, concurrency=10)
    limits.admit(quota, timeout=1)
    unsent = limits.admit(quota, timeout=1)
    with pytest.raises(ProviderFailure):
        limits.admit(quota, timeout=1)

    limits.release(unsent, sent=False)
    limits.admit(quota, timeout=1)

    clock.now += timedelta(days=1)
    limits.admit(quota, timeout=1)
    assert ProviderState.objects.get().quota_used == 1


def test_failures_open_the_circuit_and_one_trial_closes_it(clock):
    breaker = settings_for(config={"breaker_threshold": 2, "breaker_cooldown_seconds": 30})
    limits.record_failure(breaker, trial=False)
    limits.admit(breaker, timeout=1)
    assert limits.record_failure(breaker, trial=False) == limits.BreakerState.OPEN

    with pytest.raises(TemporaryError) as excinfo:
        limits.admit(breaker, timeout=1)
    assert excinfo.value.code == "circuit_open"
    assert excinfo.value.retry_after == pytest.approx(30)

    clock.now += timedelta(seconds=31)
    trial = limits.admit(breaker, timeout=1)
    assert trial.trial
    with pytest.raises(TemporaryError):  # one trial at a time
        limits.admit(breaker, timeout=1)

    limits.record_success(breaker.provider_id)
    assert not limits.admit(breaker, timeout=1).trial


def test_a_failed_trial_reopens_the_circuit(clock):
    breaker = settings_for(config={"breaker_threshold": 1, "breaker_cooldown_seconds": 10})
    limits.record_failure(breaker, trial=False)
    clock.now += timedelta(seconds=11)
    trial = limits.admit(breaker, timeout=1)

    limits.record_failure(breaker, trial=trial.trial)

    with pytest.raises(TemporaryError):
        limits.admit(breaker, timeout=1)


def test_a_refusal_takes_nothing(clock):
    both = settings_for(concurrency=1, daily_quota=0)

    with pytest.raises(ProviderFailure):
        limits.admit(both, timeout=1)

    assert ProviderLease.objects.count() == 0


@pytest.mark.parametrize(
    ("code", "status", "counts"),
    [
        ("timeout", None, True),
        ("server_error", 503, True),
        ("rate_limited", 429, True),
    ],
)
def test_what_counts_against_the_circuit(code, status, counts):
    assert limits.counts_as_failure(TemporaryError(code, http_status=status)) is counts


def test_a_client_error_does_not_count():
    assert not limits.counts_as_failure(ProviderFailure("not_found", http_status=404))
