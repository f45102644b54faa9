"""The provider client's two round trips per paid call, on a connection the calling thread owns.

For every command, redis-py's client checks a connection out of its pool, asks the socket
whether it holds stray bytes (one more system call), wraps the command for retries, encodes
every argument through several layers and hands the reply to a callback table. That is right
for general use and costs little once; but a paid call's overhead is mostly its two round
trips (the cache read that also admits, and the final writes: :mod:`providers.cache`,
:mod:`providers.tail`), and after the pause a provider's answer imposes, that machinery cost
more CPU time than the round trip itself (``bench/provider_client.py`` prints the three ways
side by side, ``docs/BENCHMARKS.md`` has the figures).

So :func:`execute` writes its commands in the Redis protocol (RESP) with one ``sendall`` on
the calling thread's own connection and reads the replies with hiredis' C parser. Connecting
is left to redis-py: the connection is made with the pool's connection class and arguments,
so TLS, credentials, the database number and the client name come from ``REDIS_URL`` as for
every other client; only the bytes of the commands bypass it. That takes the connection's
socket from its ``_sock`` attribute, which redis-py does not promise to keep: the lock file
pins redis-py, and ``tests/providers/test_wire.py`` fails if it moves. Any error while sending or
reading drops the connection, and the next use connects again. The pool's check for a
connection the server closed (a restart, an idle timeout) costs a system call per command;
here a connection idle for :data:`IDLE_CHECK` seconds is checked before use, and one used more
recently that turns out closed (nothing of a reply comes back) is replaced and the commands
sent again, once, on the new connection (see :func:`execute`).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

import hiredis
import redis
from redis.commands.core import Script
from redis.connection import AbstractConnection, ConnectionPool
from redis.exceptions import InvalidResponse, NoScriptError, ResponseError

#: Seconds of disuse after which a connection is checked before it is used again.
IDLE_CHECK = 2.0
_READ_SIZE = 64 * 1024


class _Owned:
    """One thread's connection to one pool's server, its reply parser, and when it was used."""

    __slots__ = ("connection", "generation", "reader", "used")

    def __init__(self, connection: AbstractConnection) -> None:
        self.connection = connection
        self.generation = _generation
        self.reader = _reader()
        self.used = time.monotonic()

    def socket(self) -> socket.socket:
        """The connected socket, connecting (and starting a fresh parser) if there is none."""
        sock = self.connection._sock
        if sock is None:
            try:
                self.connection.connect()  # redis-py's handshake: TLS, AUTH, SELECT, names
            except BaseException:
                # redis-py cleans up after its own errors only: a soft time limit between a
                # handshake command and its reply would leave that reply for our first read.
                self.connection.disconnect()
                raise
            self.reader = _reader()
            sock = self.connection._sock
        return sock


#: Bumped in every forked child: connections of an older generation are the parent's.
_generation = 0


def _forked() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_forked)


#: What the parser returns while a reply is incomplete (its default, ``False``, is also a
#: RESP3 boolean).
_INCOMPLETE = object()


def _reader() -> hiredis.Reader:
    return hiredis.Reader(
        protocolError=InvalidResponse, replyError=ResponseError, notEnoughData=_INCOMPLETE
    )


class _ClosedBeforeReply(redis.ConnectionError):
    """The server had closed the connection: nothing of a reply came back."""


_local = threading.local()


def _owned(client: redis.Redis) -> _Owned:
    pool = client.connection_pool
    local = _local.__dict__
    entry = local.get("last") if local.get("last_pool") is pool else None
    if entry is None:
        owned: weakref.WeakKeyDictionary[ConnectionPool, _Owned] | None = local.get("owned")
        if owned is None:
            # Keyed by the pool itself, not its id: a pool that is gone (once it is not the
            # thread's last) takes its entry and socket with it, and a new pool at the same
            # address cannot get the old connection.
            owned = _local.owned = weakref.WeakKeyDictionary()
        entry = owned.get(pool)
        if entry is None:
            entry = owned[pool] = _Owned(pool.connection_class(**pool.connection_kwargs))
        _local.last_pool, _local.last = pool, entry
    now = time.monotonic()
    if entry.generation != _generation:
        # A forked child holding its parent's socket: that connection is not ours to use
        # (nor to close).
        entry.connection = pool.connection_class(**pool.connection_kwargs)
        entry.generation, entry.reader = _generation, _reader()
    elif now - entry.used > IDLE_CHECK:
        _drop_if_stale(entry.connection)
    entry.used = now
    return entry


def _connection(client: redis.Redis) -> AbstractConnection:
    """The calling thread's connection for ``client``'s pool (for tests)."""
    return _owned(client).connection


def _drop_if_stale(connection: AbstractConnection) -> None:
    if connection._sock is None:
        return
    try:
        stale = connection.can_read()  # stray bytes, or the server's close
    except (redis.ConnectionError, OSError):
        stale = True
    if stale:
        connection.disconnect()


def pack(commands: Sequence[Sequence[Any]]) -> bytes:
    """``commands`` in RESP: arrays of bulk strings. Arguments are bytes, str (UTF-8), int or
    float, as redis-py accepts them; anything else is a ``redis.DataError``."""
    parts: list[bytes] = []
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, bytes):
                data = arg
            elif isinstance(arg, str):
                data = arg.encode()
            elif isinstance(arg, int) and not isinstance(arg, bool):
                data = b"%d" % arg
            elif isinstance(arg, float):
                data = repr(arg).encode()
            else:
                raise redis.DataError(f"cannot send {type(arg).__name__} to Redis")
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def execute(client: redis.Redis, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """Send ``commands`` in one write and return their replies in order.

    A command Redis refused has its :class:`redis.ResponseError` (``NoScriptError`` for an
    ``EVALSHA`` of a script it does not know; other messages keep their prefix, as ``"ERR
    ..."``) in its place, and the others still run. Replies are raw: bytes, integers, lists,
    ``None``, whatever the client's ``decode_responses``.

    A connection the server closed since its last use (a restart, ``CLIENT KILL``) is replaced
    and the commands sent once more on the new one, as redis-py's pool would have replaced it
    before sending. That close shows as nothing of a reply coming back: the server had not
    read the commands, unless it died or was killed in the instant between running them and
    replying (then the tail's writes repeat harmlessly, and a cache read waits out its own
    flight). Any other failure raises (``redis.ConnectionError``, ``redis.TimeoutError``,
    ``redis.InvalidResponse``; ``redis.DataError`` for an argument Redis cannot take) and
    drops the connection; the next call connects again.
    """
    data = pack(commands)
    entry = _owned(client)
    reused = entry.connection._sock is not None
    try:
        return _round_trip(entry, data, len(commands))
    except _ClosedBeforeReply:
        if not reused:
            raise
        return _round_trip(entry, data, len(commands))


def _round_trip(entry: _Owned, data: bytes, count: int) -> list[Any]:
    sock = entry.socket()
    reader = entry.reader
    replies: list[Any] = []
    received = False
    try:
        sock.sendall(data)
        while len(replies) < count:
            reply = reader.gets()
            if reply is _INCOMPLETE:
                chunk = sock.recv(_READ_SIZE)
                if not chunk:
                    if received:
                        raise redis.ConnectionError("Redis closed the connection mid-reply")
                    raise _ClosedBeforeReply("Redis had closed the connection")
                received = True
                reader.feed(chunk)
                continue
            if isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT"):
                reply = NoScriptError(str(reply))
            replies.append(reply)
        if reader.has_data():
            raise InvalidResponse("Redis sent more replies than commands")
    except BaseException as exc:
        # Whatever stopped it (a timeout, a close, a soft time limit between two replies),
        # unread replies would be taken for the next command's: start again from a new one.
        entry.connection.disconnect()
        if isinstance(exc, socket.timeout):
            raise redis.TimeoutError("Timeout reading from Redis") from exc
        if isinstance(exc, (ConnectionResetError, BrokenPipeError)) and not received:
            raise _ClosedBeforeReply(f"Redis had closed the connection: {exc}") from exc
        if isinstance(exc, OSError):
            raise redis.ConnectionError(f"Error talking to Redis: {exc}") from exc
        raise
    return replies


def evalsha(script: Script, keys: Sequence[Any], args: Sequence[Any]) -> tuple[Any, ...]:
    """The ``EVALSHA`` command running ``script`` with ``keys`` and ``args``."""
    return ("EVALSHA", script.sha, len(keys), *keys, *args)


def run_script(
    client: redis.Redis, script: Script, keys: Sequence[Any], args: Sequence[Any]
) -> Any:
    """Run a registered script in one round trip (two more if Redis has to load it first).

    Raises the script's error like redis-py's ``Script`` does.
    """
    command = evalsha(script, keys, args)
    (reply,) = execute(client, [command])
    if isinstance(reply, NoScriptError):
        # Redis restarted or its scripts were flushed: NOSCRIPT means it did not run.
        client.script_load(script.script)
        (reply,) = execute(client, [command])
    if isinstance(reply, ResponseError):
        raise reply
    return reply
