"""Circuit breaker: opens on consecutive failures, one trial when half-open, shared by processes."""

from __future__ import annotations

import multiprocessing
import queue
import time

import pytest

from providers import breaker
from providers.errors import (
    AuthenticationError,
    ClientError,
    ProviderFailure,
    TemporaryError,
)
from tests.providers import _client_support as support

COOLDOWN = 0.1  # seconds: tests wait it out instead of faking Redis's clock


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.integration)])
def backend(request, settings, monkeypatch):
    if request.param == "local":
        settings.REDIS_URL = ""
        monkeypatch.setattr(breaker, "_local_backend", breaker.LocalBackend())
        yield "local"
    else:
        yield from support.use_test_redis(settings)


@pytest.fixture
def redis_url(settings):
    yield from support.use_test_redis(settings)


@pytest.fixture
def slug():
    return support.unique_slug("cb")


def fail(slug: str, times: int, *, threshold: int = 5) -> str:
    state = ""
    for _ in range(times):
        state = breaker.record_failure(slug, threshold=threshold, cooldown=COOLDOWN)
    return state


def open_and_cool_down(slug: str) -> None:
    fail(slug, 5)
    time.sleep(COOLDOWN * 2)


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (TemporaryError("timeout"), True),
        (TemporaryError("rate_limited", http_status=429), True),
        (TemporaryError("server_error", http_status=503), True),
        (ProviderFailure("malformed_response", http_status=502), True),
        (ProviderFailure("malformed_response", http_status=200), False),
        (ProviderFailure("quota_exhausted", http_status=402), False),
        (ClientError("invalid_request", http_status=400), False),
        (AuthenticationError("invalid_key", http_status=401), False),
        (ValueError("not a provider error"), False),
    ],
)
def test_only_temporary_and_server_errors_count_as_failures(error, counts):
    assert breaker.counts_as_failure(error) is counts


def test_it_opens_after_the_threshold_of_consecutive_failures(backend, slug):
    assert fail(slug, 4) == "closed"
    breaker.before_call(slug)

    assert fail(slug, 1) == "open"
    assert breaker.state(slug) == "open"
    with pytest.raises(TemporaryError) as excinfo:
        breaker.before_call(slug, cooldown=COOLDOWN)
    assert excinfo.value.code == "circuit_open"
    assert 0 < excinfo.value.retry_after <= COOLDOWN


def test_a_success_resets_the_count(backend, slug):
    fail(slug, 4)
    breaker.record_success(slug)
    fail(slug, 4)

    assert breaker.state(slug) == "closed"


def test_a_clean_circuit_needs_no_success_write(backend, slug):
    assert breaker.before_call(slug).dirty is False
    fail(slug, 1)
    assert breaker.before_call(slug).dirty is True


def test_after_the_cool_down_exactly_one_trial_goes_through(backend, slug):
    open_and_cool_down(slug)
    assert breaker.state(slug) == "half_open"

    first = breaker.before_call(slug, cooldown=COOLDOWN)
    with pytest.raises(TemporaryError) as excinfo:
        breaker.before_call(slug, cooldown=COOLDOWN)

    assert first.trial
    assert excinfo.value.code == "circuit_open"
    assert breaker.state(slug) == "half_open"


def test_a_successful_trial_closes_the_circuit(backend, slug):
    open_and_cool_down(slug)
    breaker.before_call(slug, cooldown=COOLDOWN)

    breaker.record_success(slug)

    assert breaker.state(slug) == "closed"
    assert not breaker.before_call(slug).trial


def test_a_failed_trial_reopens_the_circuit(backend, slug):
    open_and_cool_down(slug)
    breaker.before_call(slug, cooldown=COOLDOWN)

    # One failure is enough when half-open, whatever the threshold.
    assert fail(slug, 1) == "open"
    with pytest.raises(TemporaryError):
        breaker.before_call(slug, cooldown=COOLDOWN)


def test_an_unused_trial_goes_to_the_next_caller(backend, slug):
    open_and_cool_down(slug)
    permit = breaker.before_call(slug, cooldown=COOLDOWN)

    breaker.release_trial(permit)

    assert breaker.before_call(slug, cooldown=COOLDOWN).trial


def test_a_trial_whose_worker_died_expires(backend, slug):
    open_and_cool_down(slug)
    breaker.before_call(slug, cooldown=COOLDOWN, trial_lease=0.05)  # never reports back
    time.sleep(0.1)

    assert breaker.before_call(slug, cooldown=COOLDOWN).trial


def test_reset_closes_the_circuit(backend, slug):
    fail(slug, 5)

    breaker.reset(slug)

    assert breaker.state(slug) == "closed"


# --- Across processes -----------------------------------------------------------------------------


@pytest.mark.integration
def test_failures_from_different_processes_add_up(redis_url, slug):
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=support.breaker_failures, args=(redis_url, slug, 2, 5)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert breaker.state(slug) == "closed"  # four so far

    assert fail(slug, 1) == "open"


@pytest.mark.integration
def test_half_open_allows_one_trial_across_processes_and_its_success_closes(redis_url, slug):
    cooldown = 0.2
    for _ in range(5):
        breaker.record_failure(slug, threshold=5, cooldown=cooldown)
    time.sleep(cooldown * 2)

    ctx = multiprocessing.get_context("spawn")
    start, release, results = ctx.Barrier(4), ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(
            target=support.breaker_trial,
            args=(redis_url, slug, cooldown, start, release, results),
        )
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    try:
        answers = [results.get(timeout=60) for _ in range(4)]
    except queue.Empty:
        pytest.fail("a breaker worker did not answer")
    finally:
        release.set()
    after = results.get(timeout=60)
    for worker in workers:
        worker.join(60)

    assert sorted(answers) == [
        ("rejected", "circuit_open"),
        ("rejected", "circuit_open"),
        ("rejected", "circuit_open"),
        ("trial", ""),
    ]
    assert after == ("after", "closed")
    assert breaker.state(slug) == "closed"
