"""CallTail: a call's deferred Redis writes, sent in one round trip, each failing on its own.

Real Redis (database 14, flushed around each test); round trips are counted where redis-py
writes a packet to the socket.
"""

from __future__ import annotations

import logging

import pytest
import redis

from providers import wire
from providers.tail import CallTail
from tests.providers import _client_support as support

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_redis_db")]

ADD = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture
def client(test_redis):
    wire.execute(test_redis, [("PING",)])  # connected before any round trip is counted
    return test_redis


def test_queued_writes_go_out_in_one_round_trip(client, monkeypatch):
    add = client.register_script(ADD)
    add(keys=["warm"], args=[1])  # Redis knows the script
    errors: list[Exception] = []
    tail = CallTail(client)
    tail.script(add, keys=["counter"], args=[5], on_error=errors.append)
    tail.command("XADD", "events", "*", "k", "v", on_error=errors.append)
    tail.command("SET", "flag", "on", on_error=errors.append)
    assert len(tail) == 3
    sent = support.count_round_trips(monkeypatch)

    tail.send()

    assert len(sent) == 1
    assert all(name in sent[0] for name in (b"EVALSHA", b"XADD", b"SET"))
    assert client.get("counter") == b"5"
    assert client.xlen("events") == 1
    assert client.get("flag") == b"on"
    assert errors == []
    assert len(tail) == 0


def test_an_empty_tail_sends_nothing(client, monkeypatch):
    tail = CallTail(client)
    sent = support.count_round_trips(monkeypatch)

    tail.send()

    assert sent == []


def test_sending_twice_sends_each_write_once(client):
    errors: list[Exception] = []
    tail = CallTail(client)
    tail.command("INCR", "counter", on_error=errors.append)

    tail.send()
    tail.send()

    assert client.get("counter") == b"1"
    assert errors == []


def test_a_script_redis_has_forgotten_is_loaded_and_run(client):
    add = client.register_script(ADD)
    add(keys=["counter"], args=[1])
    client.script_flush()
    errors: list[Exception] = []
    tail = CallTail(client)
    tail.script(add, keys=["counter"], args=[2], on_error=errors.append)
    tail.command("SET", "flag", "on", on_error=errors.append)

    tail.send()

    assert client.get("counter") == b"3"
    assert client.get("flag") == b"on"
    assert client.script_exists(add.sha) == [True]
    assert errors == []


def test_a_forgotten_script_that_fails_when_rerun_reports_to_its_on_error(client):
    add = client.register_script(ADD)
    add(keys=["counter"], args=[1])
    client.script_flush()
    client.set("word", "abc")
    errors: list[Exception] = []
    tail = CallTail(client)
    tail.script(add, keys=["word"], args=[2], on_error=errors.append)

    tail.send()

    (error,) = errors
    assert isinstance(error, redis.ResponseError)
    assert client.get("word") == b"abc"


def test_a_failing_command_reports_to_its_own_on_error_and_the_others_still_happen(client):
    add = client.register_script(ADD)
    add(keys=["warm"], args=[1])
    client.set("word", "abc")
    failed: list[Exception] = []
    others: list[Exception] = []
    tail = CallTail(client)
    tail.script(add, keys=["counter"], args=[4], on_error=others.append)
    tail.command("INCR", "word", on_error=failed.append)
    tail.command("SET", "flag", "on", on_error=others.append)

    tail.send()  # does not raise

    (error,) = failed
    assert isinstance(error, redis.ResponseError)
    assert "not an integer" in str(error)
    assert others == []
    assert client.get("counter") == b"4"
    assert client.get("flag") == b"on"
    assert client.get("word") == b"abc"


def test_when_redis_is_unreachable_every_write_reports_and_a_raising_on_error_is_logged(caplog):
    add = redis.Redis.from_url(support.TEST_REDIS_URL).register_script(ADD)
    down = redis.Redis.from_url("redis://127.0.0.1:1/0")
    errors: list[Exception] = []

    def broken_handler(exc: Exception) -> None:
        raise RuntimeError("handler bug")

    tail = CallTail(down)
    tail.command("SET", "flag", "on", on_error=broken_handler)
    tail.script(add, keys=["counter"], args=[1], on_error=errors.append)
    tail.command("XADD", "events", "*", "k", "v", on_error=errors.append)

    with caplog.at_level(logging.ERROR, logger="providers.tail"):
        tail.send()  # does not raise

    assert len(errors) == 2
    assert all(isinstance(error, redis.ConnectionError) for error in errors)
    (logged,) = [r for r in caplog.records if r.name == "providers.tail"]
    assert logged.getMessage() == "deferred Redis write failed"
    assert logged.levelno == logging.ERROR
    assert isinstance(logged.exc_info[1], RuntimeError)
    down.close()


def test_a_tail_for_the_settings_needs_redis(settings):
    tail = CallTail.for_settings()
    assert tail is not None
    assert tail.client.connection_pool.connection_kwargs["db"] == 14

    settings.REDIS_URL = ""

    assert CallTail.for_settings() is None
