"""The Redis cache backend behaves like Django's."""

from __future__ import annotations

import os
import threading

import pytest

from config.cache import RedisCache

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.fixture
def backend():
    if not REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL)")
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": "cache-backend-test"})
    yield cache
    cache.delete_many(["answer", "counter", *(f"k{i}" for i in range(8))])


def test_values_round_trip_with_timeouts_and_counters(backend):
    backend.set("answer", {"email": "ada@acme.example", "score": 92}, timeout=60)
    assert backend.get("answer") == {"email": "ada@acme.example", "score": 92}
    assert backend.add("answer", "other") is False

    backend.set("counter", 1)
    assert backend.incr("counter", 4) == 5

    backend.set("answer", "gone", timeout=0)
    assert backend.get("answer") is None


def test_threads_use_it_safely(backend):
    errors: list[Exception] = []

    def work(i: int) -> None:
        try:
            for n in range(50):
                backend.set(f"k{i}", n)
                assert backend.get(f"k{i}") == n
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [backend.get(f"k{i}") for i in range(8)] == [49] * 8
