"""The call ledger's buffer: rows appended to a Redis stream, drained in batches into the table.

Real PostgreSQL and a real Redis database (14, flushed around each test). Tests marked
``transaction=True`` run in autocommit, as workers and the beat task do; the others run inside
pytest-django's transaction, as a caller's ``atomic`` block would.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from enrichment.models import JobItem
from providers import ledger
from providers.models import ProviderCall
from providers.tail import CallTail
from providers.tasks import drain_ledger
from tests.factories import EnrichmentJobFactory
from tests.providers import _client_support as support

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def redis_url(test_redis_db):
    return test_redis_db


@pytest.fixture
def stream(test_redis):
    """A client of its own on the test database, to look at the stream directly."""
    return test_redis


@pytest.fixture
def provider():
    return support.make_provider("http://127.0.0.1:9")


def record(provider_id, **overrides):
    values = {
        "provider_id": provider_id,
        "operation": "find_email",
        "input_fingerprint": "f" * 64,
        "status": "success",
        "error_kind": "",
        "error_code": "",
        "http_status": 200,
        "latency_ms": 12,
        "cost": Decimal("0.0100"),
        "credits_left": None,
        "cache_hit": False,
        "attempt": 1,
        "job_item_id": None,
        **overrides,
    }
    ledger.record(**values)


def stored(provider):
    return list(ProviderCall.objects.filter(provider=provider).order_by("attempt", "id"))


def payloads(stream):
    """The JSON of every stream entry, oldest first."""
    return [json.loads(fields[b"r"]) for _, fields in stream.xrange(ledger.STREAM)]


def gone_provider_id():
    """The id of a provider that existed and was deleted: rows buffered for it cannot be stored."""
    doomed = support.make_provider("http://127.0.0.1:9")
    provider_id = doomed.pk
    doomed.delete()
    return provider_id


# --- What a row is ------------------------------------------------------------------------------


def test_a_buffered_row_waits_in_the_stream_and_flush_stores_every_field(provider, stream):
    item = JobItem.objects.create(job=EnrichmentJobFactory(), index=0, input={})
    before = timezone.now()
    record(
        provider.pk,
        credits_left=Decimal("41.50"),
        cost=Decimal("0.0375"),
        latency_ms=1234,
        job_item_id=item.pk,
    )
    record(
        provider.pk,
        operation="verify_email",
        input_fingerprint="0" * 64,
        status="error",
        error_kind="temporary",
        error_code="server_error",
        http_status=None,
        latency_ms=0,
        cost=Decimal("0"),
        cache_hit=True,
        attempt=2,
    )
    after = timezone.now()

    assert stream.xlen(ledger.STREAM) == 2
    assert ledger.pending() == 2
    assert stored(provider) == []
    call_ids = [entry["call_id"] for entry in payloads(stream)]

    assert ledger.flush()

    first, second = stored(provider)
    assert [first.call_id, second.call_id] == [uuid.UUID(hex=c) for c in call_ids]
    assert (first.operation, first.input_fingerprint, first.status) == (
        "find_email",
        "f" * 64,
        "success",
    )
    assert (first.error_kind, first.error_code) == ("", "")
    assert (first.http_status, first.latency_ms, first.cache_hit, first.attempt) == (
        200,
        1234,
        False,
        1,
    )
    assert first.cost == Decimal("0.0375")
    assert first.credits_left == Decimal("41.50")
    assert first.job_item == item
    assert (second.operation, second.input_fingerprint, second.status) == (
        "verify_email",
        "0" * 64,
        "error",
    )
    assert (second.error_kind, second.error_code) == ("temporary", "server_error")
    assert (second.http_status, second.latency_ms, second.cache_hit, second.attempt) == (
        None,
        0,
        True,
        2,
    )
    assert second.cost == Decimal("0")
    assert second.credits_left is None
    assert second.job_item is None
    for row in (first, second):
        assert before <= row.created_at <= after
        assert abs(timezone.now() - row.created_at) < timedelta(seconds=1)


def test_the_streams_json_keys_are_the_tables_column_names(provider, stream):
    meta = ProviderCall._meta
    for name in ledger.COLUMNS:
        assert meta.get_field(name).column == name
    # Every column but the key is written: json_populate_recordset would leave one out as NULL.
    assert {field.column for field in meta.concrete_fields} - {"id"} == set(ledger.COLUMNS)

    record(provider.pk)

    (entry,) = payloads(stream)
    assert set(entry) == set(ledger.COLUMNS)


# --- Draining twice -----------------------------------------------------------------------------


def test_draining_the_same_entries_twice_inside_a_transaction_stores_them_once(provider):
    record(provider.pk)
    record(provider.pk, attempt=2)

    assert ledger.drain() == 2
    assert ledger.drain() == 2  # still in the stream until the transaction commits

    assert [row.attempt for row in stored(provider)] == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_an_entry_copied_after_its_commit_is_not_stored_again(provider, stream):
    record(provider.pk)
    ((_, fields),) = stream.xrange(ledger.STREAM)
    assert ledger.flush()
    assert stream.xlen(ledger.STREAM) == 0

    # A drainer killed between its commit and its XDEL leaves the entry for the next one.
    stream.xadd(ledger.STREAM, fields)
    assert ledger.flush()

    assert len(stored(provider)) == 1
    assert stream.xlen(ledger.STREAM) == 0


@pytest.mark.django_db(transaction=True)
def test_an_entry_twice_in_one_batch_is_stored_once(provider, stream):
    record(provider.pk)
    ((_, fields),) = stream.xrange(ledger.STREAM)
    stream.xadd(ledger.STREAM, fields)
    record(provider.pk, attempt=2)

    assert ledger.drain() == 3

    assert [row.attempt for row in stored(provider)] == [1, 2]
    assert stream.xlen(ledger.STREAM) == 0


# --- Transactions ---------------------------------------------------------------------------------


def test_inside_a_transaction_drained_entries_stay_in_the_stream(provider, stream):
    record(provider.pk)

    assert ledger.drain() == 1

    assert len(stored(provider)) == 1
    assert stream.xlen(ledger.STREAM) == 1


def test_drained_entries_leave_the_stream_when_the_transaction_commits(
    provider, stream, django_capture_on_commit_callbacks
):
    record(provider.pk)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert ledger.drain() == 1
        assert stream.xlen(ledger.STREAM) == 1

    assert len(callbacks) == 1
    assert stream.xlen(ledger.STREAM) == 0
    assert len(stored(provider)) == 1


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_drain_deletes_the_entries_at_once(provider, stream):
    record(provider.pk)

    assert ledger.drain() == 1

    assert stream.xlen(ledger.STREAM) == 0
    assert len(stored(provider)) == 1


def test_flush_inside_a_transaction_returns_although_the_entries_stay(
    provider, stream, monkeypatch
):
    monkeypatch.setattr(ledger, "BATCH", 2)  # several batches, each read past the last
    for attempt in range(1, 6):
        record(provider.pk, attempt=attempt)

    started = time.monotonic()
    assert ledger.flush(timeout=5.0)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    assert [row.attempt for row in stored(provider)] == [1, 2, 3, 4, 5]
    assert stream.xlen(ledger.STREAM) == 5


@pytest.mark.django_db(transaction=True)
def test_a_flush_inside_a_transaction_survives_a_row_whose_provider_is_gone(provider):
    # The admin's change form (an atomic block) shows provider health, which flushes.
    record(provider.pk)
    record(gone_provider_id(), attempt=2)

    with transaction.atomic():
        assert ledger.flush()

    assert [row.attempt for row in stored(provider)] == [1]


@pytest.mark.django_db(transaction=True)
def test_a_flush_inside_a_transaction_keeps_a_row_whose_job_item_is_gone(
    provider, stream, monkeypatch
):
    job_item = JobItem.objects.create(job=EnrichmentJobFactory(), index=0, input={})
    record(provider.pk, job_item_id=job_item.pk)
    job_item.delete()

    with transaction.atomic():
        assert ledger.flush()
    # Within the grace period the job item may still be on its way: the row waits.
    assert stored(provider) == []
    assert stream.xlen(ledger.STREAM) == 1

    monkeypatch.setattr(ledger, "ORPHAN_GRACE", timedelta(0))
    with transaction.atomic():
        assert ledger.flush()

    (row,) = stored(provider)
    assert row.job_item is None
    assert stream.xlen(ledger.STREAM) == 0


@pytest.mark.django_db(transaction=True)
def test_a_row_for_a_provider_not_yet_committed_waits_for_its_commit(stream):
    created = threading.Event()
    committed = threading.Event()
    provider_ids: list[int] = []

    def create_provider_in_an_open_transaction() -> None:
        try:
            with transaction.atomic():
                provider = support.make_provider("http://127.0.0.1:9")
                provider_ids.append(provider.pk)
                record(provider.pk)
                created.set()
                assert committed.wait(10)
        finally:
            connection.close()

    other = threading.Thread(target=create_provider_in_an_open_transaction)
    other.start()
    try:
        assert created.wait(10)
        assert ledger.flush()  # this connection cannot see the provider yet
        assert not ProviderCall.objects.filter(provider_id=provider_ids[0]).exists()
        assert stream.xlen(ledger.STREAM) == 1
    finally:
        committed.set()
        other.join(10)

    assert ledger.flush()
    assert ProviderCall.objects.filter(provider_id=provider_ids[0]).count() == 1
    assert stream.xlen(ledger.STREAM) == 0


# --- Bad entries ----------------------------------------------------------------------------------


def test_a_row_the_table_refuses_costs_only_itself(provider, caplog):
    record(provider.pk, attempt=1)
    record(provider.pk, attempt=2, cost=Decimal("-1"))  # the cost's check constraint refuses it
    record(provider.pk, attempt=3)

    with caplog.at_level(logging.ERROR, logger="providers.ledger"):
        assert ledger.flush()

    assert [row.attempt for row in stored(provider)] == [1, 3]
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.getMessage() == "ledger row cannot be stored, dropped"
    assert error.constraint == "providercall_cost_not_negative"
    # Not the database's message, which quotes the row and its inputs' fingerprint.
    assert "f" * 64 not in str(error.__dict__)


@pytest.mark.django_db(transaction=True)
def test_bad_entries_are_dropped_with_an_error_and_the_good_rows_stored(
    provider, stream, caplog, monkeypatch
):
    monkeypatch.setattr(ledger, "ORPHAN_GRACE", timedelta(0))  # their makers are long gone
    job_item = JobItem.objects.create(job=EnrichmentJobFactory(), index=0, input={})
    record(provider.pk, attempt=1)
    record(gone_provider_id(), attempt=2)
    stream.xadd(ledger.STREAM, {"r": b"not json {"})
    record(provider.pk, attempt=3)
    record(provider.pk, attempt=4, job_item_id=job_item.pk)
    job_item.delete()

    with caplog.at_level(logging.WARNING, logger="providers.ledger"):
        assert ledger.flush()

    rows = stored(provider)
    assert [row.attempt for row in rows] == [1, 3, 4]
    assert rows[-1].job_item is None  # kept, as the foreign key's SET NULL would have done
    assert not ProviderCall.objects.filter(attempt=2).exists()
    assert stream.xlen(ledger.STREAM) == 0
    errors = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert errors == [
        "ledger entry unreadable, dropped",
        "ledger row for a provider that no longer exists, dropped",
    ]


def test_a_value_the_column_cannot_hold_costs_only_its_row(provider, caplog):
    record(provider.pk, attempt=1)
    record(provider.pk, attempt=2, operation="x" * 100)  # longer than the column
    record(provider.pk, attempt=3)

    with caplog.at_level(logging.ERROR, logger="providers.ledger"):
        assert ledger.flush()

    assert [row.attempt for row in stored(provider)] == [1, 3]
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.getMessage() == "ledger row cannot be stored, dropped"
    assert error.error == "DataError"


@pytest.mark.django_db(transaction=True)
def test_an_entry_from_before_a_column_existed_gets_its_default(provider, stream):
    record(provider.pk)
    ((entry_id, fields),) = stream.xrange(ledger.STREAM)
    older = json.loads(fields[b"r"])
    del older["credits_left"], older["attempt"]
    stream.xdel(ledger.STREAM, entry_id)
    stream.xadd(ledger.STREAM, {"r": json.dumps(older)})

    assert ledger.flush()

    (row,) = stored(provider)
    assert (row.credits_left, row.attempt) == (None, 1)


@pytest.mark.django_db(transaction=True)
def test_rows_held_back_go_to_the_back_and_do_not_stall_the_rest(provider, stream, monkeypatch):
    monkeypatch.setattr(ledger, "BATCH", 2)
    waiting = gone_provider_id()  # young orphans: kept for the grace period
    for attempt in (1, 2, 3):
        record(waiting, attempt=attempt)
    for attempt in (4, 5, 6):
        record(provider.pk, attempt=attempt)

    assert ledger.drain(max_batches=2) == 4  # reads at most 4: the 3 held back and one more
    assert ledger.drain(max_batches=2) == 4  # the held-back ones went behind the rest

    assert [row.attempt for row in stored(provider)] == [4, 5, 6]
    assert sorted(payload["attempt"] for payload in payloads(stream)) == [1, 2, 3]


def test_record_returns_the_rows_call_id(provider):
    call_id = ledger.record(
        provider_id=provider.pk,
        operation="find_email",
        input_fingerprint="f" * 64,
        status="success",
        error_kind="",
        error_code="",
        http_status=200,
        latency_ms=12,
        cost=Decimal("0.0100"),
        credits_left=None,
        cache_hit=False,
        attempt=1,
        job_item_id=None,
    )

    assert ledger.flush()
    assert ProviderCall.objects.get(call_id=call_id).provider == provider


@pytest.mark.django_db(transaction=True)
def test_rows_buffered_before_the_buffer_was_turned_off_still_reach_the_table(
    provider, stream, settings
):
    record(provider.pk, attempt=1)
    settings.PROVIDER_LEDGER_BUFFER = False
    record(provider.pk, attempt=2)  # straight to the table now

    assert ledger.pending() == 1
    assert drain_ledger() == {"complete": True, "pending": 0}
    assert [row.attempt for row in stored(provider)] == [1, 2]


def test_a_row_written_directly_twice_is_stored_once(provider, settings, monkeypatch):
    settings.PROVIDER_LEDGER_BUFFER = False
    monkeypatch.setattr(ledger.ids, "uuid4_hex", lambda: uuid.UUID(int=7).hex)

    record(provider.pk, attempt=1)
    record(provider.pk, attempt=2)  # same call_id: as after an append whose reply was lost

    assert [row.attempt for row in stored(provider)] == [1]


# --- Without the buffer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, value",
    [("PROVIDER_LEDGER_BUFFER", False), ("REDIS_URL", "")],
    ids=["off", "no-redis"],
)
def test_without_the_buffer_a_row_is_inserted_at_once(provider, stream, settings, setting, value):
    setattr(settings, setting, value)

    record(provider.pk)

    assert len(stored(provider)) == 1
    assert not ledger.buffered()
    assert ledger.pending() == 0
    assert stream.xlen(ledger.STREAM) == 0


def test_with_redis_unreachable_a_row_is_written_directly_with_a_warning(
    provider, settings, caplog
):
    settings.REDIS_URL = UNREACHABLE_REDIS  # redis_client is cached by URL: a client of its own

    with caplog.at_level(logging.WARNING, logger="providers.ledger"):
        record(provider.pk)

    assert len(stored(provider)) == 1
    warnings = [r for r in caplog.records if r.name == "providers.ledger"]
    assert [r.getMessage() for r in warnings] == ["ledger buffer unavailable, writing directly"]
    assert warnings[0].levelno == logging.WARNING


def test_a_row_queued_on_a_tail_that_cannot_reach_redis_is_written_directly(
    provider, settings, caplog
):
    settings.REDIS_URL = UNREACHABLE_REDIS
    tail = CallTail.for_settings()
    assert tail is not None

    with caplog.at_level(logging.WARNING, logger="providers.ledger"):
        record(provider.pk, tail=tail)
        assert stored(provider) == []  # waits for the tail
        tail.send()

    assert len(stored(provider)) == 1
    assert "ledger buffer unavailable, writing directly" in caplog.messages


# --- One drainer at a time ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_nobody_drains_while_another_holds_the_lock(provider, stream):
    record(provider.pk)
    stream.set(ledger.DRAIN_LOCK, b"someone-else", px=ledger.LOCK_TTL_MS)

    assert ledger.drain() is None
    assert ledger.flush(timeout=0.2) is False

    assert stream.get(ledger.DRAIN_LOCK) == b"someone-else"  # not released by the losers
    assert stored(provider) == []
    assert stream.xlen(ledger.STREAM) == 1
    stream.delete(ledger.DRAIN_LOCK)

    assert ledger.flush() is True

    assert len(stored(provider)) == 1
    assert not stream.exists(ledger.DRAIN_LOCK)


@pytest.mark.django_db(transaction=True)
def test_a_process_drains_inline_at_most_once_per_interval(provider, monkeypatch):
    monkeypatch.setattr(ledger, "DRAIN_INTERVAL", 60.0)
    monkeypatch.setattr(ledger, "_next_inline_drain", 0.0)
    record(provider.pk, attempt=1)

    ledger.drain_if_due()

    assert ledger.pending() == 0
    record(provider.pk, attempt=2)

    ledger.drain_if_due()

    assert ledger.pending() == 1
    assert len(stored(provider)) == 1
    monkeypatch.setattr(ledger, "_next_inline_drain", time.monotonic())  # the interval is over

    ledger.drain_if_due()

    assert ledger.pending() == 0
    assert [row.attempt for row in stored(provider)] == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_process_never_drains_inline_inside_an_atomic_block(provider, monkeypatch):
    monkeypatch.setattr(ledger, "_next_inline_drain", 0.0)

    with transaction.atomic():
        record(provider.pk)
        ledger.drain_if_due()

    assert ledger.pending() == 1
    assert stored(provider) == []


@pytest.mark.django_db(transaction=True)
def test_an_inline_drain_does_not_wait_long_for_another_transaction(
    provider, stream, monkeypatch, caplog
):
    monkeypatch.setattr(ledger, "_next_inline_drain", 0.0)
    monkeypatch.setattr(ledger, "INLINE_LOCK_WAIT_MS", 200)
    record(provider.pk)
    holding = threading.Event()
    done = threading.Event()

    def drain_inside_a_long_transaction() -> None:
        try:
            with transaction.atomic():
                assert ledger.flush()  # inserted, not committed: the row is locked
                holding.set()
                done.wait(10)
        finally:
            connection.close()

    other = threading.Thread(target=drain_inside_a_long_transaction)
    other.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="providers.ledger"):
            ledger.drain_if_due()  # as at the end of a provider call
        waited = time.monotonic() - started
    finally:
        done.set()
        other.join(10)

    assert waited < 2  # gave up after about 0.2 s, instead of waiting for the transaction
    assert "ledger drain failed; rows stay buffered" in caplog.messages
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"  # the session's setting is back
    assert ledger.flush()
    assert len(stored(provider)) == 1


# --- The drainer thread (the default outside tests) ------------------------------------------------


@pytest.fixture
def drainer_thread(settings, monkeypatch):
    """The production default: calls only mark rows due, a thread drains every 50 ms here."""
    settings.PROVIDER_LEDGER_DRAIN_THREAD = True
    monkeypatch.setattr(ledger, "DRAIN_INTERVAL", 0.05)
    monkeypatch.setattr(ledger, "_the_drainer", None)
    yield
    if ledger._the_drainer is not None:
        ledger._the_drainer.stop()  # closes its database connection before the test's teardown


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_after_a_call_the_drainer_thread_stores_the_rows_and_the_call_does_no_io(
    provider, drainer_thread, monkeypatch, django_assert_num_queries
):
    record(provider.pk, attempt=1)
    record(provider.pk, attempt=2)
    sent = support.count_round_trips(monkeypatch)

    with django_assert_num_queries(0):
        ledger.drain_if_due()

    assert sent == []  # nothing for Redis either, in the calling thread or yet in the drainer
    wait_until(lambda: ledger.pending() == 0)
    assert [row.attempt for row in stored(provider)] == [1, 2]
    assert ledger._the_drainer._thread.name == "ledger-drainer"
    assert ledger._the_drainer._thread.daemon


@pytest.mark.django_db(transaction=True)
def test_the_drainer_sleeps_until_a_call_marks_rows_due(provider, drainer_thread):
    ledger._drainer()  # running, and nothing marked due
    record(provider.pk)  # recorded, but no call has said so
    time.sleep(0.3)  # six intervals

    assert ledger.pending() == 1

    ledger.drain_if_due()

    wait_until(lambda: ledger.pending() == 0)


@pytest.mark.django_db(transaction=True)
def test_a_failed_drain_is_logged_and_tried_again(provider, drainer_thread, monkeypatch, caplog):
    drain = ledger.drain
    failures = [DatabaseError("the database went away")]

    def failing_once(**kwargs):
        if failures:
            raise failures.pop()
        return drain(**kwargs)

    monkeypatch.setattr(ledger, "drain", failing_once)
    record(provider.pk)

    with caplog.at_level(logging.WARNING, logger="providers.ledger"):
        ledger.drain_if_due()  # the only call: the retry is the drainer's own doing
        wait_until(lambda: ledger.pending() == 0)

    assert failures == []
    assert len(stored(provider)) == 1
    assert "ledger drain failed; rows stay buffered" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_rows_left_for_the_next_drain_keep_the_drainer_going(provider, drainer_thread, monkeypatch):
    monkeypatch.setattr(ledger, "BATCH", 2)
    monkeypatch.setattr(ledger, "INLINE_BATCHES", 1)  # two rows per drain
    for attempt in range(1, 8):
        record(provider.pk, attempt=attempt)

    ledger.drain_if_due()  # once

    wait_until(lambda: ledger.pending() == 0)
    assert [row.attempt for row in stored(provider)] == list(range(1, 8))


def backends_on_the_test_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_an_idle_drainer_does_not_keep_its_database_connection(
    provider, drainer_thread, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL backends")
    # The drainer's connection, made after this, may live one second: past the drain, so
    # only the idle wake-ups can close it.
    monkeypatch.setitem(connections.settings[connection.alias], "CONN_MAX_AGE", 1)
    before = backends_on_the_test_database()
    record(provider.pk)

    ledger.drain_if_due()

    wait_until(lambda: ledger.pending() == 0)
    wait_until(lambda: backends_on_the_test_database() == before)


@pytest.mark.django_db(transaction=True)
def test_a_bug_in_the_drainers_loop_does_not_end_it(provider, drainer_thread, monkeypatch, caplog):
    close_old_connections = ledger.close_old_connections
    bugs = [RuntimeError("a bug")]

    def buggy_once():
        if bugs:
            raise bugs.pop()
        close_old_connections()

    monkeypatch.setattr(ledger, "close_old_connections", buggy_once)
    record(provider.pk)

    with caplog.at_level(logging.ERROR, logger="providers.ledger"):
        ledger.drain_if_due()
        wait_until(lambda: ledger.pending() == 0)

    assert bugs == []
    assert "ledger drainer failed" in caplog.text
    assert ledger._the_drainer._thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_at_exit_the_drainer_stops_before_the_last_flush(provider, drainer_thread):
    drainer = ledger._drainer()
    record(provider.pk)

    ledger.drain_at_exit()

    assert not drainer._thread.is_alive()
    assert ledger.pending() == 0
    assert len(stored(provider)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_celery_child_drains_before_it_exits(provider, drainer_thread):
    from celery.signals import worker_process_shutdown

    drainer = ledger._drainer()
    record(provider.pk)

    # What billiard's child sends just before its os._exit (which skips atexit).
    worker_process_shutdown.send(sender=None, pid=0, exitcode=0)

    assert not drainer._thread.is_alive()
    assert ledger.pending() == 0
    assert len(stored(provider)) == 1


def _report_drainer(parent, queue) -> None:
    drainer = ledger._drainer()
    queue.put((drainer is not parent, drainer._thread.is_alive()))
    drainer.stop()


def test_a_forked_child_starts_a_drainer_of_its_own(drainer_thread):
    parent = ledger._drainer()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_report_drainer, args=(parent, queue))
    child.start()
    child.join(30)

    assert child.exitcode == 0
    assert queue.get(timeout=5) == (True, True)  # a new drainer, its thread running
    assert ledger._drainer() is parent


# --- Workers that die, the beat task --------------------------------------------------------------

# A worker that records rows with the buffer on, says so, and waits to be killed. It runs as a
# script rather than a multiprocessing target: a spawned child imports its target's module
# before Django is set up, and this module imports models.
_RECORDING_WORKER = """
import sys, time
from decimal import Decimal

from tests.providers import _client_support as support

redis_url, db_name, provider_id, count = sys.argv[1:5]
support.child_setup(redis_url, db_name)
from django.conf import settings

settings.PROVIDER_LEDGER_BUFFER = True  # the test settings turn it off
from providers import ledger

for attempt in range(1, int(count) + 1):
    ledger.record(
        provider_id=int(provider_id), operation="find_email", input_fingerprint="f" * 64,
        status="success", error_kind="", error_code="", http_status=200, latency_ms=12,
        cost=Decimal("0.0100"), credits_left=None, cache_hit=False, attempt=attempt,
        job_item_id=None,
    )
print("recorded", flush=True)
time.sleep(60)
"""


@pytest.mark.django_db(transaction=True)
def test_rows_recorded_by_a_killed_worker_are_drained_by_another_process(
    provider, redis_url, stream
):
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [
            sys.executable,
            "-c",
            _RECORDING_WORKER,
            redis_url,
            connection.settings_dict["NAME"],
            str(provider.pk),
            "5",
        ],
        cwd=Path(django_settings.BASE_DIR),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline().strip() == "recorded"
    finally:
        worker.kill()  # SIGKILL: no atexit drain, no cleanup
        worker.wait(10)
        worker.stdout.close()

    assert worker.returncode == -signal.SIGKILL
    assert stream.xlen(ledger.STREAM) == 5
    assert stored(provider) == []

    assert ledger.flush()

    assert [row.attempt for row in stored(provider)] == [1, 2, 3, 4, 5]
    assert ledger.pending() == 0


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_drains_the_stream(provider):
    record(provider.pk)
    record(provider.pk, attempt=2)

    assert drain_ledger(timeout_seconds=5.0) == {"complete": True, "pending": 0}

    assert len(stored(provider)) == 2
