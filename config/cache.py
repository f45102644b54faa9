"""Django's Redis cache backend with one Redis client per connection pool, whose ``clear()``
deletes only its own keys.

Django's ``clear()`` is a ``FLUSHDB``: on the Redis database the Celery broker, the channel
layer and the provider client also use, it would drop queued jobs and paid answers. Here it
deletes the keys under the cache's ``KEY_PREFIX`` only, so nothing else is within its reach.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache operation.
The connection is pooled, but the client object is not: constructing it copies redis-py's
table of response callbacks, about 0.5 ms of CPU, which was the largest single cost of a
provider call's cache read and write (see bench/provider_client.py). A ``redis.Redis`` is safe
to share between threads (each command borrows a connection from the pool), so one per pool
is kept and reused.
"""

from __future__ import annotations

import re
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[redis.ConnectionPool, redis.Redis] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            # Two threads may both build one on first use; either is fine to keep.
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` reusing its Redis clients, clearing
    only the keys under its own prefix."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient

    def clear(self) -> bool:
        client = self._cache.get_client(None, write=True)
        # Django's key function writes "<prefix>:<version>:<key>"; glob characters in the
        # prefix are escaped so the pattern matches it literally.
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.key_prefix) + ":*"
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
        return True
