"""The provider client's two round trips per paid call, on a connection the calling thread owns.

For every command, redis-py's client checks a connection out of its pool, asks the socket
whether it holds stray bytes (one more system call), wraps the command for retries and hands
the reply to a callback table. That is right for general use and costs little once; but a
paid call's overhead is mostly its two round trips (the cache read that also admits, and the
final writes: :mod:`providers.cache`, :mod:`providers.tail`), and after the pause a provider's
answer imposes, that machinery took about a third of a round trip's CPU time
(``bench/provider_client.py`` prints both, ``docs/BENCHMARKS.md`` has the figures).

:func:`execute` sends its commands in one write on the calling thread's own connection to the
client's server and reads every reply. The connection is made with the pool's connection class
and arguments, so TLS, credentials and the database number come from ``REDIS_URL`` as for
every other client. redis-py's ``Connection`` drops its socket on any error while sending or
reading, and the next use connects again. The pool's check for a connection the server closed
(a restart, an idle timeout) is made here only after :data:`IDLE_CHECK` seconds of disuse: a
connection used that recently is alive unless Redis went away in between, and then the command
fails with a connection error, as it would on a fresh connection, and the next one reconnects.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.connection import AbstractConnection, ConnectionPool
from redis.exceptions import NoScriptError, ResponseError

#: Seconds of disuse after which a connection is checked before it is used again.
IDLE_CHECK = 2.0


class _Owned:
    """One thread's connection to one pool's server, and when it was last used."""

    __slots__ = ("connection", "pid", "used")

    def __init__(self, connection: AbstractConnection) -> None:
        self.connection = connection
        self.pid = os.getpid()
        self.used = time.monotonic()


_local = threading.local()


def _connection(client: redis.Redis) -> AbstractConnection:
    owned: weakref.WeakKeyDictionary[ConnectionPool, _Owned] | None
    owned = getattr(_local, "owned", None)
    if owned is None:
        # Keyed by the pool itself, not its id: a pool that is gone takes its entry (and the
        # socket) with it, and a new pool at the same address cannot get the old connection.
        owned = _local.owned = weakref.WeakKeyDictionary()
    pool = client.connection_pool
    entry = owned.get(pool)
    now = time.monotonic()
    if entry is None or entry.pid != os.getpid():
        # First use on this thread, or a forked child holding its parent's socket: the
        # parent's connection is not ours to use (nor to close).
        entry = owned[pool] = _Owned(pool.connection_class(**pool.connection_kwargs))
    elif now - entry.used > IDLE_CHECK:
        _drop_if_stale(entry.connection)
    entry.used = now
    return entry.connection


def _drop_if_stale(connection: AbstractConnection) -> None:
    try:
        stale = connection.can_read()  # stray bytes, or the server's close
    except (redis.ConnectionError, OSError):
        stale = True
    if stale:
        connection.disconnect()


def execute(client: redis.Redis, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """Send ``commands`` in one write and return their replies in order.

    A command Redis refused has its :class:`redis.ResponseError` (``NoScriptError`` for an
    ``EVALSHA`` of a script it does not know) in its place, and the others still run. A
    connection or timeout error raises; the connection is then dropped and the next call
    connects again. Replies are raw (bytes), as from a client without ``decode_responses``.
    """
    connection = _connection(client)
    connection.send_packed_command(connection.pack_commands(commands), check_health=False)
    replies: list[Any] = []
    try:
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except ResponseError as exc:  # read in full: the other replies follow in order
                replies.append(exc)
    except BaseException:
        # Interrupted between two replies (a soft time limit, say): the unread ones would be
        # taken for the next command's.
        connection.disconnect()
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
