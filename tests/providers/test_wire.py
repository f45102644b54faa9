"""providers.wire: commands on the calling thread's own Redis connection.

Real Redis (database 14, flushed around each test). A connection is told apart by its
``CLIENT ID``; round trips are counted where redis-py writes a packet to the socket.
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest
import redis

from providers import wire
from tests.providers import _client_support as support

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_redis_db")]


@pytest.fixture
def client(test_redis):
    return test_redis


def client_id(client: redis.Redis) -> int:
    (reply,) = wire.execute(client, [("CLIENT", "ID")])
    return reply


def test_commands_go_out_in_one_round_trip_and_answer_in_order(client, monkeypatch):
    wire.execute(client, [("PING",)])  # connected: the handshake is not counted
    sent = support.count_round_trips(monkeypatch)

    replies = wire.execute(client, [("SET", "a", "1"), ("INCRBY", "a", "2"), ("GET", "a")])

    assert replies == [b"OK", 3, b"3"]
    assert len(sent) == 1


def test_a_refused_command_answers_with_its_error_and_the_others_still_run(client):
    replies = wire.execute(
        client, [("SET", "word", "x"), ("INCR", "word"), ("SET", "after", "y"), ("GET", "after")]
    )

    assert replies[0] == b"OK"
    assert isinstance(replies[1], redis.ResponseError)
    assert replies[2:] == [b"OK", b"y"]
    # The connection is still in step: the next reply is the next command's.
    assert wire.execute(client, [("GET", "word")]) == [b"x"]


def test_the_database_and_server_are_the_clients(client):
    wire.execute(client, [("SET", "where", "here")])

    assert client.get("where") == b"here"  # the same database (14), through redis-py's pool
    assert redis.Redis.from_url("redis://127.0.0.1:6379/13").get("where") is None


def test_a_thread_keeps_its_connection_and_threads_do_not_share_one(client):
    first, again = client_id(client), client_id(client)
    other: list[int] = []
    thread = threading.Thread(target=lambda: other.append(client_id(client)))
    thread.start()
    thread.join()

    assert first == again
    assert other and other[0] != first


def test_each_client_pool_has_its_own_connection(client):
    other = redis.Redis.from_url("redis://127.0.0.1:6379/13")
    try:
        wire.execute(other, [("SET", "pool", "13")])
        assert client_id(other) != client_id(client)
        assert client.get("pool") is None
    finally:
        other.delete("pool")
        other.close()


def test_a_connection_the_server_closed_is_replaced_and_the_commands_run_once(client):
    before = client_id(client)
    client.client_kill_filter(_id=before)  # as a restart would, within the idle window

    assert wire.execute(client, [("INCR", "runs"), ("INCR", "runs")]) == [1, 2]

    assert client.get("runs") == b"2"  # sent again on the new connection, not run twice
    assert client_id(client) != before


def test_a_closed_connection_is_not_retried_twice(client, monkeypatch):
    wire.execute(client, [("PING",)])
    attempts = []
    round_trip = wire._round_trip

    def always_closed(entry, data, count):
        attempts.append(data)
        entry.connection.disconnect()
        raise wire._ClosedBeforeReply("Redis had closed the connection")

    monkeypatch.setattr(wire, "_round_trip", always_closed)
    with pytest.raises(redis.ConnectionError):
        wire.execute(client, [("PING",)])
    monkeypatch.setattr(wire, "_round_trip", round_trip)

    assert len(attempts) == 2  # the first, and once more on a new connection
    assert wire.execute(client, [("PING",)]) == [b"PONG"]


def test_more_replies_than_commands_fail_the_call_and_drop_the_connection(client):
    before = client_id(client)
    entry = wire._owned(client)

    with pytest.raises(redis.InvalidResponse):
        # Two commands sent, one reply expected: the second would answer the next call.
        wire._round_trip(entry, wire.pack([("PING",), ("ECHO", "stray")]), 1)

    assert wire.execute(client, [("ECHO", "mine")]) == [b"mine"]
    assert client_id(client) != before


def test_a_handshake_interrupted_before_its_reply_leaves_nothing_behind(client, monkeypatch):
    connection = wire._connection(client)
    connection.disconnect()
    on_connect = connection.on_connect

    def interrupted():
        on_connect()
        connection.send_command("ECHO", "handshake")  # a reply nobody will read
        raise KeyboardInterrupt  # as a soft time limit would, before it is read

    monkeypatch.setattr(connection, "on_connect", interrupted)
    with pytest.raises(KeyboardInterrupt):
        wire.execute(client, [("ECHO", "mine")])
    monkeypatch.setattr(connection, "on_connect", on_connect)

    assert wire.execute(client, [("ECHO", "mine")]) == [b"mine"]


def test_a_connection_idle_longer_than_the_check_is_looked_at_before_use(client, monkeypatch):
    before = client_id(client)
    client.client_kill_filter(_id=before)
    monkeypatch.setattr(wire, "IDLE_CHECK", 0.0)

    assert wire.execute(client, [("PING",)]) == [b"PONG"]  # no error: reconnected first
    assert client_id(client) != before


def test_an_interruption_between_replies_drops_the_connection(client):
    before = client_id(client)
    entry = wire._owned(client)

    class Interrupted:
        """The parser, interrupted (as by a soft time limit) after the first reply."""

        def __init__(self, reader):
            self.reader, self.replies = reader, 0

        def feed(self, data):
            self.reader.feed(data)

        def gets(self):
            reply = self.reader.gets()
            if reply is not False:
                self.replies += 1
                if self.replies == 2:
                    raise KeyboardInterrupt
            return reply

    entry.reader = Interrupted(entry.reader)
    with pytest.raises(KeyboardInterrupt):
        wire.execute(client, [("SET", "x", "1"), ("GET", "x"), ("GET", "x")])

    # The unread replies went with the old connection; the next command reads its own.
    assert wire.execute(client, [("INCR", "n")]) == [1]
    assert client_id(client) != before


def test_arguments_are_sent_as_redis_py_would_and_other_types_are_refused(client):
    wire.execute(client, [("SET", "s", "é"), ("SET", b"b", b"\x00\xff"), ("SET", "i", 42)])
    wire.execute(client, [("SET", "f", 0.5)])

    assert [client.get(key) for key in ("s", "b", "i", "f")] == [
        "é".encode(),
        b"\x00\xff",
        b"42",
        b"0.5",
    ]
    with pytest.raises(redis.DataError):
        wire.execute(client, [("SET", "flag", True)])
    assert wire.execute(client, [("PING",)]) == [b"PONG"]


def test_a_timeout_raises_redis_timeout_error_and_drops_the_connection(client):
    before = client_id(client)
    wire._connection(client)._sock.settimeout(0.2)

    with pytest.raises(redis.TimeoutError):
        wire.execute(client, [("BLPOP", "nothing", "5")])  # no answer for 5 s

    assert client_id(client) != before


def _child_client_id(url: str, queue: multiprocessing.Queue) -> None:
    queue.put(client_id(redis.Redis.from_url(url)))


def test_a_forked_child_opens_its_own_connection(client):
    parent = client_id(client)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()

    def child() -> None:
        queue.put(client_id(client))  # the parent's pool, inherited

    process = context.Process(target=child)
    process.start()
    process.join(30)

    assert process.exitcode == 0
    assert queue.get(timeout=5) != parent
    assert client_id(client) == parent  # the parent's connection was left alone


def test_a_script_redis_forgot_is_loaded_and_run(client, monkeypatch):
    script = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert wire.run_script(client, script, ["counter"], [2]) == 2
    client.script_flush()

    assert wire.run_script(client, script, ["counter"], [3]) == 5


def test_a_script_error_is_raised(client):
    script = client.register_script("return redis.error_reply('BROKEN nothing works')")

    with pytest.raises(redis.ResponseError, match="nothing works"):
        wire.run_script(client, script, [], [])
    assert wire.execute(client, [("PING",)]) == [b"PONG"]
