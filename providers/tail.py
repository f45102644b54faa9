"""Redis writes that can wait for the end of a provider call, sent together in one round trip.

A paid call ends with three writes to Redis, each some module's business: give back the
concurrency slot (:mod:`providers.ratelimit`), append the ledger row (:mod:`providers.ledger`),
store the answer and end the single flight (:mod:`providers.cache`). Sent one by one they are
three round trips, and in a busy worker every round trip costs far more than Redis takes to
answer: the thread sleeps, then waits to be scheduled and for the interpreter. The client
gives each of those modules the call's :class:`CallTail`; they queue their write on it, and the
cache's store (or the client, when nothing is stored) sends them all in one write.

Every write says what to do if it fails, so a failed round trip loses nothing that matters: the
ledger row is written to the database instead, a slot's lease expires by itself, a cache write
is only logged. A script Redis has forgotten (after a restart or ``SCRIPT FLUSH``) is loaded
and run again on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from providers import wire
from providers.ratelimit import redis_client

logger = logging.getLogger(__name__)

OnError = Callable[[Exception], None]


@dataclass(frozen=True)
class _Write:
    command: tuple[Any, ...]
    on_error: OnError
    script: Script | None = None
    keys: Sequence[Any] = ()
    args: Sequence[Any] = ()


class CallTail:
    """The writes one call defers to its end; :meth:`send` sends them in one round trip."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._writes: list[_Write] = []

    @classmethod
    def for_settings(cls) -> CallTail | None:
        """A tail on the configured Redis, or ``None`` without Redis (nothing to defer)."""
        url = getattr(settings, "REDIS_URL", "")
        return cls(redis_client(url)) if url else None

    def script(
        self, script: Script, keys: Sequence[Any], args: Sequence[Any], on_error: OnError
    ) -> None:
        """Queue a registered script (EVALSHA; loaded and rerun if Redis lost it)."""
        command = wire.evalsha(script, keys, args)
        self._writes.append(_Write(command, on_error, script, tuple(keys), tuple(args)))

    def command(self, *command: Any, on_error: OnError) -> None:
        """Queue a plain command, e.g. ``XADD``."""
        self._writes.append(_Write(tuple(command), on_error))

    def __len__(self) -> int:
        return len(self._writes)

    def send(self) -> None:
        """Send every queued write in one round trip (:mod:`providers.wire`); never raises
        (each write's ``on_error`` runs instead)."""
        writes, self._writes = self._writes, []
        if not writes:
            return
        try:
            replies = wire.execute(self.client, [write.command for write in writes])
        except redis.RedisError as exc:
            for write in writes:
                _fail(write, exc)
            return
        for write, reply in zip(writes, replies, strict=True):
            if isinstance(reply, NoScriptError) and write.script is not None:
                try:
                    wire.run_script(self.client, write.script, write.keys, write.args)
                except redis.RedisError as exc:
                    _fail(write, exc)
            elif isinstance(reply, Exception):
                _fail(write, reply)


def _fail(write: _Write, exc: Exception) -> None:
    try:
        write.on_error(exc)
    except Exception:
        logger.exception("deferred Redis write failed", extra={"command": str(write.command[0])})
