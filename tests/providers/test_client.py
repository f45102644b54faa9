"""The provider client end to end: loopback HTTP server, real database rows (ledger, limits,
stored answers, budgets)."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from werkzeug import Request, Response

from config.logging import REDACTED, redact_text
from enrichment.models import JobItem
from providers import client as client_module
from providers import limits
from providers.client import ProviderClient, backoff_delay, call_provider
from providers.errors import (
    AuthenticationError,
    BudgetExhausted,
    ClientError,
    ProviderFailure,
    TemporaryError,
)
from providers.models import CallStatus, ProviderCall, ProviderState
from tests.factories import EnrichmentJobFactory
from tests.providers import _client_support as support

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

INPUTS = {"domain": "acme.example", "first_name": "Ada"}
FOUND = {"email": "ada@acme.example", "score": 93}


@pytest.fixture
def sleeps(monkeypatch):
    """Backoff sleeps, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(client_module, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def provider(httpserver):
    return support.make_provider(httpserver.url_for("/").rstrip("/"))


def call(provider, inputs=None, *, adapter_class=support.EchoAdapter, **options):
    max_attempts = options.pop("max_attempts", 4)
    client = ProviderClient(provider, adapter_class=adapter_class, max_attempts=max_attempts)
    return client.call("find_email", inputs or INPUTS, **options)


def rows(provider):
    return list(ProviderCall.objects.filter(provider=provider).order_by("id"))


def answer(httpserver, status=200, body=None, headers=None):
    httpserver.expect_ordered_request("/find").respond_with_json(
        FOUND if body is None else body, status=status, headers=headers or {}
    )


# --- Success, no match, cache ----------------------------------------------------------------------


def test_a_successful_call_returns_fields_and_writes_one_ledger_row(httpserver, provider):
    answer(httpserver, headers={"X-Credits-Left": "41.5"})

    result = call(provider)

    assert result.found
    assert result.value("email") == "ada@acme.example"
    assert result.confidence("email") == 93
    assert result.cost == Decimal("0.0100")
    (row,) = rows(provider)
    assert row.status == CallStatus.SUCCESS
    assert row.operation == "find_email"
    assert len(row.input_fingerprint) == 64
    assert (row.http_status, row.attempt, row.cache_hit) == (200, 1, False)
    assert row.cost == Decimal("0.0100")
    assert row.credits_left == Decimal("41.50")
    assert row.error_kind == row.error_code == ""
    assert row.job_item is None
    assert abs(timezone.now() - row.created_at) < timedelta(hours=1)


def test_the_ledger_row_points_at_the_job_item(httpserver, provider):
    job = EnrichmentJobFactory()
    item = JobItem.objects.create(job=job, index=0, input=INPUTS)
    answer(httpserver)

    call(provider, job_item=item)

    (row,) = rows(provider)
    assert row.job_item == item
    assert list(item.provider_calls.all()) == [row]


def test_it_sends_the_decrypted_key_and_registers_it_with_the_log_filter(httpserver, provider):
    httpserver.expect_request("/find", headers={"X-Api-Key": support.API_KEY}).respond_with_json(
        FOUND
    )

    call(provider)

    assert redact_text(f"oops {support.API_KEY}") == f"oops {REDACTED}"


def test_the_second_identical_request_makes_no_http_call(httpserver, provider):
    answer(httpserver)
    call(provider)

    again = call(provider)

    assert len(httpserver.log) == 1
    assert again.value("email") == "ada@acme.example"
    assert again.cost == Decimal(0)
    assert again.extra["cache_hit"] is True
    first, hit = rows(provider)
    assert hit.cache_hit and not first.cache_hit
    assert hit.cost == Decimal(0)
    assert hit.status == CallStatus.SUCCESS
    assert hit.input_fingerprint == first.input_fingerprint


def test_inputs_that_normalise_alike_share_the_cached_answer(httpserver, provider):
    answer(httpserver)
    call(provider, {"domain": "https://www.ACME.example/about", "first_name": " Ada "})

    call(provider, {"domain": "acme.example", "first_name": "Ada"})

    assert len(httpserver.log) == 1


def test_a_no_match_is_recorded_and_cached(httpserver, provider):
    answer(httpserver, body={"email": None})

    first = call(provider)
    second = call(provider)

    assert not first.found and not second.found
    assert len(httpserver.log) == 1
    assert [r.status for r in rows(provider)] == [CallStatus.NO_MATCH, CallStatus.NO_MATCH]


def test_bypassing_the_cache_asks_the_provider_again(httpserver, provider):
    answer(httpserver)
    answer(httpserver)
    call(provider)

    call(provider, use_cache=False)

    assert len(httpserver.log) == 2
    assert [r.cache_hit for r in rows(provider)] == [False, False]


def test_a_provider_with_a_zero_ttl_is_never_cached(httpserver):
    provider = support.make_provider(httpserver.url_for("/").rstrip("/"), cache_ttl_days=0)
    answer(httpserver)
    answer(httpserver)

    call(provider)
    call(provider)

    assert len(httpserver.log) == 2


# --- Retries --------------------------------------------------------------------------------------


def test_it_retries_a_server_error_and_records_both_attempts(httpserver, provider, sleeps):
    answer(httpserver, status=500, body={"error": "boom"})
    answer(httpserver)

    result = call(provider)

    assert result.found
    assert len(httpserver.log) == 2
    failed, succeeded = rows(provider)
    assert (failed.attempt, failed.status, failed.http_status) == (1, CallStatus.ERROR, 500)
    assert (failed.error_kind, failed.error_code) == ("temporary", "server_error")
    assert failed.cost == Decimal(0)
    assert (succeeded.attempt, succeeded.status) == (2, CallStatus.SUCCESS)
    assert len(sleeps) == 1


def test_it_waits_at_least_what_retry_after_asks(httpserver, provider, sleeps):
    answer(httpserver, status=429, body={"error": "slow down"}, headers={"Retry-After": "7"})
    answer(httpserver)

    call(provider)

    assert sleeps == [7.0]
    assert [r.http_status for r in rows(provider)] == [429, 200]


def test_a_retry_after_beyond_the_cap_is_left_to_the_caller(httpserver, provider, sleeps):
    answer(httpserver, status=429, body={}, headers={"Retry-After": "3600"})

    with pytest.raises(TemporaryError) as excinfo:
        call(provider)

    assert excinfo.value.retry_after == 3600
    assert len(httpserver.log) == 1
    assert sleeps == []


def test_it_does_not_retry_an_authentication_error(httpserver, provider, sleeps):
    answer(httpserver, status=401, body={"error": "bad key"})

    with pytest.raises(AuthenticationError):
        call(provider)

    assert len(httpserver.log) == 1
    (row,) = rows(provider)
    assert (row.status, row.error_kind, row.error_code, row.http_status) == (
        CallStatus.ERROR,
        "authentication",
        "invalid_key",
        401,
    )
    assert sleeps == []


def test_it_gives_up_after_max_attempts(httpserver, provider, sleeps):
    for _ in range(3):
        answer(httpserver, status=503, body={})

    with pytest.raises(TemporaryError) as excinfo:
        call(provider, max_attempts=3)

    assert excinfo.value.code == "server_error"
    assert [r.attempt for r in rows(provider)] == [1, 2, 3]
    assert len(sleeps) == 2


def test_errors_are_not_cached(httpserver, provider, sleeps):
    answer(httpserver, status=401, body={})
    answer(httpserver)
    with pytest.raises(AuthenticationError):
        call(provider)

    assert call(provider).found
    assert len(httpserver.log) == 2


def test_backoff_uses_full_jitter_below_an_exponential_cap():
    for attempt in range(1, 10):
        ceiling = min(client_module.BACKOFF_CAP, client_module.BACKOFF_BASE * 2 ** (attempt - 1))
        assert all(0 <= backoff_delay(attempt) <= ceiling for _ in range(50))
    assert backoff_delay(1, retry_after=12.0) == 12.0


# --- Refusals before sending ------------------------------------------------------------------------


def test_offline_mode_refuses_before_anything(httpserver, provider, settings):
    settings.ENRICH_OFFLINE = True

    with pytest.raises(ClientError) as excinfo:
        call(provider)

    assert excinfo.value.code == "offline"
    assert httpserver.log == []
    assert rows(provider) == []


def test_a_disabled_provider_is_refused(httpserver, provider):
    provider.enabled = False

    with pytest.raises(ClientError):
        call(provider)

    assert httpserver.log == []


def test_missing_inputs_are_refused_without_spending_a_token(httpserver):
    provider = support.make_provider(httpserver.url_for("/").rstrip("/"), daily_quota=5)

    with pytest.raises(ClientError) as excinfo:
        call(provider, {"first_name": "Ada"})

    assert excinfo.value.code == "missing_field"
    assert limits.quota_used(provider) == 0
    assert rows(provider) == []


def test_an_open_circuit_refuses_without_calling(httpserver, sleeps):
    provider = support.make_provider(
        httpserver.url_for("/").rstrip("/"), config={"breaker_threshold": 2}
    )
    answer(httpserver, status=502, body={})
    answer(httpserver, status=502, body={})

    with pytest.raises(TemporaryError) as excinfo:
        call(provider, max_attempts=4)

    # Two failures opened the circuit; the third attempt was refused, not sent.
    assert excinfo.value.code == "circuit_open"
    assert len(httpserver.log) == 2
    assert len(rows(provider)) == 2
    assert limits.breaker_state(provider) == "open"


def test_client_errors_do_not_open_the_circuit(httpserver):
    provider = support.make_provider(
        httpserver.url_for("/").rstrip("/"), config={"breaker_threshold": 1}
    )
    answer(httpserver, status=400, body={})

    with pytest.raises(ClientError):
        call(provider)

    assert limits.breaker_state(provider) == "closed"


def test_a_half_open_circuit_closes_after_a_successful_trial(httpserver):
    provider = support.make_provider(
        httpserver.url_for("/").rstrip("/"), config={"breaker_cooldown_seconds": 0.05}
    )
    for _ in range(5):
        limits.record_failure(limits.Settings.of(provider), trial=False)
    threading.Event().wait(0.1)
    answer(httpserver)

    assert call(provider).found
    assert limits.breaker_state(provider) == "closed"


def test_a_success_after_counted_failures_clears_them(httpserver):
    provider = support.make_provider(httpserver.url_for("/").rstrip("/"))
    limits.record_failure(limits.Settings.of(provider), trial=False)
    assert ProviderState.objects.get(provider=provider).failures == 1
    answer(httpserver)

    assert call(provider).found

    assert ProviderState.objects.get(provider=provider).failures == 0


def test_a_cache_hit_takes_no_slot_and_no_token(httpserver, monkeypatch):
    provider = support.make_provider(
        httpserver.url_for("/").rstrip("/"), rate_limit_per_minute=60, concurrency=1
    )
    slept: list[float] = []
    monkeypatch.setattr(limits, "_sleep", slept.append)
    answer(httpserver)
    answer(httpserver)
    call(provider, {"domain": "a.example"})  # takes the bucket's one token

    assert call(provider, {"domain": "a.example"}).extra["cache_hit"]
    assert limits.slots_in_use(provider) == 0
    call(provider, {"domain": "b.example"})

    # One token a second: b waits for the second token, not a third the hit would have taken.
    assert len(slept) == 1
    assert 0.5 < slept[0] <= 1.0


def test_the_daily_quota_stops_calls(httpserver):
    provider = support.make_provider(httpserver.url_for("/").rstrip("/"), daily_quota=1)
    answer(httpserver)
    call(provider, {"domain": "one.example"})

    with pytest.raises(ProviderFailure) as excinfo:
        call(provider, {"domain": "two.example"})

    assert excinfo.value.code == "quota_exhausted"
    assert len(httpserver.log) == 1


def test_a_daily_quota_of_zero_stops_every_call(httpserver):
    # Concurrency 4 is the default: the guarded fast path must not mistake 0 for "no quota".
    provider = support.make_provider(httpserver.url_for("/").rstrip("/"), daily_quota=0)

    with pytest.raises(ProviderFailure) as excinfo:
        call(provider)

    assert excinfo.value.code == "quota_exhausted"
    assert httpserver.log == []


class _Stopped(Exception):
    """Stands in for Celery's soft time limit arriving while a call waits for its token."""


def test_a_call_stopped_while_waiting_gives_back_its_quota_and_its_trial(httpserver, monkeypatch):
    provider = support.make_provider(
        httpserver.url_for("/").rstrip("/"),
        daily_quota=5,
        rate_limit_per_minute=60,
        config={"breaker_cooldown_seconds": 0.05},
    )
    answer(httpserver)
    call(provider, {"domain": "one.example"})  # spends the bucket's only token
    for _ in range(5):
        limits.record_failure(limits.Settings.of(provider), trial=False)
    threading.Event().wait(0.1)  # cool-down over: the next call is the half-open trial

    def stopped(seconds):
        raise _Stopped

    monkeypatch.setattr(limits, "_sleep", stopped)
    with pytest.raises(_Stopped):
        call(provider, {"domain": "two.example"})

    assert limits.quota_used(provider) == 1  # only the call that was sent
    # The trial went back: the next caller may try at once instead of waiting out its lease.
    assert ProviderState.objects.get(provider=provider).trial_until is None
    assert len(httpserver.log) == 1


def test_a_cache_hit_does_not_use_the_quota(httpserver):
    provider = support.make_provider(httpserver.url_for("/").rstrip("/"), daily_quota=1)
    answer(httpserver)
    call(provider)

    assert call(provider).found
    assert limits.quota_used(provider) == 1


# --- Odd cases --------------------------------------------------------------------------------------


def test_an_adapter_bug_becomes_a_provider_failure_with_a_ledger_row(httpserver, provider):
    answer(httpserver)

    with pytest.raises(ProviderFailure) as excinfo:
        call(provider, adapter_class=support.BrokenAdapter)

    assert excinfo.value.code == "malformed_response"
    (row,) = rows(provider)
    assert (row.status, row.error_code) == (CallStatus.ERROR, "malformed_response")


def test_it_never_logs_the_credentials(httpserver, provider, caplog, sleeps):
    answer(httpserver, status=500, body={"error": f"key {support.API_KEY} overloaded"})
    answer(httpserver)

    with caplog.at_level(logging.DEBUG, logger="providers"):
        call(provider)

    assert caplog.records
    for record in caplog.records:
        assert support.API_KEY not in repr(record.__dict__)


def test_call_provider_resolves_the_adapter_by_name(httpserver, provider, monkeypatch):
    import providers.adapters

    monkeypatch.setattr(
        providers.adapters,
        "get_adapter_class",
        lambda name: support.EchoAdapter if name == "test-echo" else None,
    )
    answer(httpserver)

    assert call_provider(provider, "find_email", INPUTS).found


def test_it_needs_no_redis(httpserver, provider, settings):
    settings.REDIS_URL = ""
    answer(httpserver)

    call(provider)
    call(provider)

    assert len(httpserver.log) == 1


# --- Concurrency ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_in_threads_make_one_http_call(httpserver):
    def slow(request: Request) -> Response:
        threading.Event().wait(0.3)
        return Response('{"email": "ada@acme.example"}', content_type="application/json")

    httpserver.expect_request("/find").respond_with_handler(slow)
    provider = support.make_provider(httpserver.url_for("/").rstrip("/"))
    barrier = threading.Barrier(6)
    emails: list[str] = []

    def ask() -> None:
        try:
            barrier.wait(10)
            emails.append(call(provider).value("email"))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert emails == ["ada@acme.example"] * 6
    assert len(httpserver.log) == 1
    assert sorted(r.cache_hit for r in rows(provider)) == [False] + [True] * 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_in_two_processes_make_one_http_call():
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    with support.LoopbackProvider(delay=0.5) as server:
        provider = support.make_provider(server.url)
        db_name = connection.settings_dict["NAME"]
        workers = [
            ctx.Process(
                target=support.client_call,
                args=(db_name, provider.pk, INPUTS, start, results),
            )
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        try:
            answers = [results.get(timeout=90) for _ in range(2)]
        except queue.Empty:
            pytest.fail("a client process did not answer")
        for worker in workers:
            worker.join(30)

        assert sorted(answers) == [("ada@acme.example", False), ("ada@acme.example", True)]
        assert server.count == 1
        assert sorted(r.cache_hit for r in rows(provider)) == [False, True]


# --- Money survives Redis ---------------------------------------------------------------------------


def test_an_answer_bought_before_redis_was_flushed_is_not_bought_again(settings):
    import redis

    from providers.models import Provider
    from tests.providers.conftest import fixture_json
    from tests.support.provider_server import LimitedProvider

    if not settings.REDIS_URL:
        pytest.skip("no Redis in this run")
    question = {"first_name": "Alexis", "last_name": "Ohanian", "domain": "reddit.example"}
    with LimitedProvider(fixture_json("hunter", "email_finder.json")) as server:
        hunter = Provider(
            slug="hunter", name="Hunter", adapter="hunter", base_url=f"{server.url}/v2"
        )
        hunter.set_credentials({"api_key": "hunter-key-1234"})
        hunter.save()
        first = call_provider(hunter, "find_email", question)

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
        second = call_provider(hunter, "find_email", question)

        assert server.count == 1
    assert second.value("email") == first.value("email") == "alexis@reddit.com"
    assert (first.cost, second.cost) == (Decimal("0.025"), Decimal(0))
    assert second.extra["cache_hit"] is True


def test_a_refused_budget_sends_nothing_and_leaves_no_ledger_row(httpserver, provider):
    from tests.factories import BudgetFactory

    BudgetFactory(limit_amount=Decimal("0.00"))

    with pytest.raises(BudgetExhausted) as excinfo:
        call(provider)

    assert "organisation budget" in excinfo.value.message
    assert httpserver.log == []
    assert rows(provider) == []


def test_a_paid_call_settles_its_reservation_and_links_the_ledger_row(httpserver, provider):
    from budgets.models import SpendEntry, SpendStatus
    from tests.factories import BudgetFactory

    budget = BudgetFactory(limit_amount=Decimal("1.00"))
    answer(httpserver)

    call(provider)

    (row,) = rows(provider)
    (entry,) = SpendEntry.objects.all()
    assert (entry.status, entry.settled_amount, entry.provider_call) == (
        SpendStatus.SETTLED,
        Decimal("0.0100"),
        row,
    )
    budget.refresh_from_db()
    assert (budget.spent, budget.reserved) == (Decimal("0.0100"), 0)


def test_a_failure_in_the_final_writes_still_gives_the_slot_back(httpserver, monkeypatch):
    # Before, a failed settle (a deadlock, a lost connection) rolled the lease's deletion back
    # with it: the slot stayed taken until its lease expired, a minute of a worker's time.
    from django.db import OperationalError

    provider = support.make_provider(httpserver.url_for("/").rstrip("/"), concurrency=1)
    answer(httpserver)

    def broken_settle(*args, **kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(client_module.budgets, "spend_settle", broken_settle)
    with pytest.raises(OperationalError):
        call(provider)

    assert limits.slots_in_use(provider) == 0
