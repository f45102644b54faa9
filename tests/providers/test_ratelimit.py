"""Token bucket, concurrency leases and daily quota, in-process and shared through Redis."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
import redis

from providers import ratelimit
from providers.errors import ProviderFailure, TemporaryError
from tests.providers import _client_support as support


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.integration)])
def backend(request, settings, monkeypatch):
    """Each behaviour runs against both backends; the local one is fresh for each test."""
    if request.param == "local":
        settings.REDIS_URL = ""
        monkeypatch.setattr(ratelimit, "_local_backend", ratelimit.LocalBackend())
        yield "local"
    else:
        yield from support.use_test_redis(settings)


@pytest.fixture
def redis_url(settings):
    yield from support.use_test_redis(settings)


@pytest.fixture
def slug():
    return support.unique_slug("rl")


@pytest.fixture
def sleeps(monkeypatch):
    recorded: list[float] = []
    monkeypatch.setattr(ratelimit, "_sleep", recorded.append)
    return recorded


# --- Token bucket (deterministic clock) --------------------------------------------------------


def test_it_spaces_requests_evenly_by_default():
    clock = FakeClock()
    local = ratelimit.LocalBackend(clock=clock)

    waits = [local.reserve_token("a", 1.0, 1, max_wait=10)[1] for _ in range(3)]

    # The first token is there; the next two are reserved one and two seconds ahead.
    assert waits == [0.0, 1.0, 2.0]
    clock.now += 2.0
    assert local.reserve_token("a", 1.0, 1, max_wait=10) == (True, 1.0)


def test_it_refuses_without_reserving_when_the_wait_exceeds_the_timeout():
    clock = FakeClock()
    local = ratelimit.LocalBackend(clock=clock)
    local.reserve_token("a", 1.0, 1, max_wait=0)

    assert local.reserve_token("a", 1.0, 1, max_wait=0.5) == (False, 1.0)
    clock.now += 1.0
    # The refusal took nothing: the refilled token is available at once.
    assert local.reserve_token("a", 1.0, 1, max_wait=0) == (True, 0.0)


def test_it_allows_a_burst_of_the_bucket_size():
    local = ratelimit.LocalBackend(clock=FakeClock())

    granted = [local.reserve_token("a", 1.0, 3, max_wait=0)[0] for _ in range(4)]

    assert granted == [True, True, True, False]


def test_it_keeps_providers_apart():
    local = ratelimit.LocalBackend(clock=FakeClock())
    local.reserve_token("a", 1.0, 1, max_wait=0)

    assert local.reserve_token("b", 1.0, 1, max_wait=0) == (True, 0.0)


# --- acquire ------------------------------------------------------------------------------------


def test_it_does_not_limit_without_a_rate(backend, slug, sleeps):
    for _ in range(100):
        assert ratelimit.acquire(slug, None) == 0.0
    assert sleeps == []


def test_it_sleeps_the_computed_wait_for_the_next_token(backend, slug, sleeps):
    ratelimit.acquire(slug, 600)  # 10 per second: one token every 0.1 s
    ratelimit.acquire(slug, 600)

    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 0.1


def test_it_raises_rate_limited_with_retry_after_when_the_token_is_too_far(backend, slug, sleeps):
    ratelimit.acquire(slug, 60, timeout=0)

    with pytest.raises(TemporaryError) as excinfo:
        ratelimit.acquire(slug, 60, timeout=0.5)

    assert excinfo.value.code == "rate_limited"
    assert 0.5 < excinfo.value.retry_after <= 1.0
    assert sleeps == []


# --- Concurrency slots ---------------------------------------------------------------------------


def test_it_holds_at_most_limit_slots(backend, slug):
    with ratelimit.concurrency_slot(slug, 2), ratelimit.concurrency_slot(slug, 2):
        assert ratelimit.slots_in_use(slug) == 2
        with (
            pytest.raises(TemporaryError) as excinfo,
            ratelimit.concurrency_slot(slug, 2, timeout=0),
        ):
            pass
        assert excinfo.value.code == "concurrency_limited"

    assert ratelimit.slots_in_use(slug) == 0
    with ratelimit.concurrency_slot(slug, 2, timeout=0):
        assert ratelimit.slots_in_use(slug) == 1


def test_it_releases_the_slot_when_the_call_raises(backend, slug):
    with pytest.raises(RuntimeError), ratelimit.concurrency_slot(slug, 1):
        raise RuntimeError("boom")

    assert ratelimit.slots_in_use(slug) == 0


def test_a_dead_workers_slot_expires_with_its_lease(backend, slug):
    # A worker took the only slot and was killed: it never releases.
    ratelimit.get_backend().try_slot(slug, 1, 0.05, "killed-worker")

    with ratelimit.concurrency_slot(slug, 1, timeout=5):
        assert ratelimit.slots_in_use(slug) == 1


def test_a_waiter_gets_the_slot_when_it_is_released(backend, slug):
    holding = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with ratelimit.concurrency_slot(slug, 1):
            holding.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    threading.Timer(0.05, done.set).start()

    with ratelimit.concurrency_slot(slug, 1, timeout=5):
        assert done.is_set()
    holder.join(5)


# --- Admission: slot and token together -----------------------------------------------------------


def test_admission_holds_a_slot_and_spends_a_token(backend, slug, sleeps):
    with ratelimit.admission(slug, rate_per_minute=60, concurrency=2):
        assert ratelimit.slots_in_use(slug) == 1

    assert ratelimit.slots_in_use(slug) == 0
    with pytest.raises(TemporaryError) as excinfo:
        ratelimit.acquire(slug, 60, timeout=0)
    assert excinfo.value.code == "rate_limited"


def test_admission_sleeps_until_the_token_is_due_holding_the_slot(backend, slug, sleeps):
    with ratelimit.admission(slug, rate_per_minute=600, concurrency=1):
        pass
    with ratelimit.admission(slug, rate_per_minute=600, concurrency=1) as waited:
        assert ratelimit.slots_in_use(slug) == 1

    assert sleeps == [waited]
    assert 0 < waited <= 0.1


def test_admission_gives_the_slot_back_when_the_token_is_too_far(backend, slug, sleeps):
    ratelimit.acquire(slug, 60)

    with (
        pytest.raises(TemporaryError) as excinfo,
        ratelimit.admission(slug, rate_per_minute=60, concurrency=1, timeout=0.5),
    ):
        pass

    assert excinfo.value.code == "rate_limited"
    assert ratelimit.slots_in_use(slug) == 0


def test_admission_refuses_when_no_slot_frees_in_time(backend, slug):
    with (
        ratelimit.concurrency_slot(slug, 1),
        pytest.raises(TemporaryError) as excinfo,
        ratelimit.admission(slug, rate_per_minute=None, concurrency=1, timeout=0.05),
    ):
        pass

    assert excinfo.value.code == "concurrency_limited"


def test_admission_waits_for_a_released_slot(backend, slug):
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with ratelimit.admission(slug, rate_per_minute=None, concurrency=1):
            holding.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    threading.Timer(0.05, done.set).start()

    with ratelimit.admission(slug, rate_per_minute=None, concurrency=1, timeout=5):
        assert done.is_set()
    holder.join(5)


# --- Daily quota ---------------------------------------------------------------------------------


def test_it_stops_at_the_daily_quota(backend, slug):
    ratelimit.take_quota(slug, 2)
    ratelimit.take_quota(slug, 2)

    with pytest.raises(ProviderFailure) as excinfo:
        ratelimit.take_quota(slug, 2)

    assert excinfo.value.code == "quota_exhausted"
    assert ratelimit.quota_used(slug) == 2


def test_a_refunded_call_does_not_count(backend, slug):
    ticket = ratelimit.take_quota(slug, 1)
    ratelimit.refund_quota(ticket)

    assert ratelimit.quota_used(slug) == 0
    ratelimit.take_quota(slug, 1)


def test_no_quota_means_no_counting(backend, slug):
    assert ratelimit.take_quota(slug, None) is None
    assert ratelimit.quota_used(slug) == 0


# --- Redis specifics -----------------------------------------------------------------------------


@pytest.mark.integration
def test_admission_with_an_existing_guard_key_takes_nothing(redis_url, slug, sleeps):
    client = redis.Redis.from_url(redis_url)
    guard = f"test-guard:{slug}"
    client.set(guard, "1")

    with (
        pytest.raises(ratelimit.GuardKeyExists),
        ratelimit.admission(slug, rate_per_minute=60, concurrency=1, guard=guard),
    ):
        pytest.fail("admitted despite the guard key")

    assert ratelimit.slots_in_use(slug) == 0
    assert client.exists(f"rl:v1:{slug}:bucket") == 0  # no token reserved either
    client.delete(guard)
    with ratelimit.admission(slug, rate_per_minute=60, concurrency=1, guard=guard):
        assert ratelimit.slots_in_use(slug) == 1


def _run(request: ratelimit.AdmitRequest) -> None:
    """Run an admission request's script as the cache's lead script would, setting its reply."""
    client = redis.Redis.from_url(support.TEST_REDIS_URL)
    request.sent = True
    request.reply = client.eval(request.lua, len(request.keys), *request.keys, *request.args)


def test_admission_starts_from_a_request_that_already_ran(redis_url, slug, sleeps):
    options = {"rate_per_minute": 60, "concurrency": 2}
    request = ratelimit.admit_request(slug, **options)
    _run(request)
    assert ratelimit.slots_in_use(slug) == 1  # the script took the slot and the token

    with ratelimit.admission(slug, **options, request=request):
        # No second slot, and the bucket's next token is not spent: no wait.
        assert ratelimit.slots_in_use(slug) == 1
    assert ratelimit.slots_in_use(slug) == 0
    assert sleeps == []
    assert request.used  # a retry is admitted afresh
    ratelimit.release_unused(request)  # nothing left to give back
    with ratelimit.admission(slug, **options, request=request):
        assert ratelimit.slots_in_use(slug) == 1
    assert ratelimit.slots_in_use(slug) == 0


def test_an_admission_request_that_found_no_slot_waits_for_one(redis_url, slug, sleeps):
    options = {"rate_per_minute": None, "concurrency": 1}
    request = ratelimit.admit_request(slug, **options, timeout=5)
    holder = ratelimit.admission(slug, **options)
    holder.__enter__()
    _run(request)
    assert request.reply[0] == 0  # no slot free
    threading.Timer(0.2, holder.__exit__, (None, None, None)).start()

    with ratelimit.admission(slug, **options, timeout=5, request=request):
        assert ratelimit.slots_in_use(slug) == 1


def test_an_admitted_request_never_used_gives_its_slot_back(redis_url, slug):
    request = ratelimit.admit_request(slug, rate_per_minute=None, concurrency=1)
    _run(request)
    assert ratelimit.slots_in_use(slug) == 1

    ratelimit.release_unused(request)

    assert ratelimit.slots_in_use(slug) == 0
    ratelimit.release_unused(request)  # once only
    ratelimit.release_unused(None)


def test_a_request_whose_reply_was_lost_gives_its_slot_back(redis_url, slug):
    request = ratelimit.admit_request(slug, rate_per_minute=None, concurrency=1)
    _run(request)
    request.reply = None  # Redis ran it, the answer never came back (a timeout)

    ratelimit.release_unused(request)

    assert ratelimit.slots_in_use(slug) == 0


def test_a_request_never_sent_releases_nothing(redis_url, slug, monkeypatch):
    request = ratelimit.admit_request(slug, rate_per_minute=None, concurrency=1)
    released: list[str] = []
    monkeypatch.setattr(ratelimit.RedisBackend, "release_slot", lambda *args: released.append(1))

    ratelimit.release_unused(request)

    assert released == []  # no round trip for a cache hit


def test_no_admission_request_without_redis_or_limits(settings, slug):
    assert ratelimit.admit_request(slug, rate_per_minute=None, concurrency=None) is None
    settings.REDIS_URL = ""
    assert ratelimit.admit_request(slug, rate_per_minute=60, concurrency=1) is None


def test_the_in_process_limiter_has_no_guard_keys(settings, monkeypatch, slug):
    settings.REDIS_URL = ""
    monkeypatch.setattr(ratelimit, "_local_backend", ratelimit.LocalBackend())

    assert not ratelimit.supports_guard()
    with (
        pytest.raises(ValueError),
        ratelimit.admission(slug, rate_per_minute=60, concurrency=1, guard="k"),
    ):
        pass


@pytest.mark.integration
def test_redis_keys_are_namespaced_and_expire(redis_url, slug):
    ratelimit.acquire(slug, 600)
    ratelimit.take_quota(slug, 10)
    ratelimit.get_backend().try_slot(slug, 1, 60, "token")

    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.keys("*"))
    assert keys == [f"rl:v1:{slug}:bucket", f"rl:v1:{slug}:inflight", f"rl:v1:{slug}:quota"]
    assert all(client.pttl(key) > 0 for key in keys)


@pytest.mark.integration
def test_it_refuses_calls_when_redis_is_down(settings, slug):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    with pytest.raises(TemporaryError) as excinfo:
        ratelimit.acquire(slug, 600)

    assert excinfo.value.code == "limiter_unavailable"


@pytest.mark.integration
def test_two_processes_sharing_a_limit_never_exceed_it_at_the_server(redis_url, slug):
    """Each process alone would send 10/s; together they must still stay within 10/s."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)  # both children set up before either sends
    with support.LoopbackProvider() as server:
        workers = [
            ctx.Process(
                target=support.rate_limited_sender,
                args=(redis_url, slug, 600, server.url, 10, f"w{i}", start),
            )
            for i in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)

        assert [w.exitcode for w in workers] == [0, 0]
        assert server.count == 20
        assert {w for _, w in server.arrivals} == {"w0", "w1"}
        # 10 tokens per second plus the one in the bucket at the start of any window.
        assert server.max_in_window(1.0) <= 11
