"""Django's Redis cache backend, except that ``clear()`` deletes only the cache's own keys.

Django's ``clear()`` is a ``FLUSHDB``: on the Redis database the Celery broker and the channel
layer also use, it would drop queued jobs. Here it deletes the keys under the cache's
``KEY_PREFIX`` only, so nothing else is within its reach.
"""

from __future__ import annotations

import re
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        servers = server.split(",") if isinstance(server, str) else list(server)
        self.server_url = servers[0]

    def clear(self) -> bool:
        # Django's key function writes "<prefix>:<version>:<key>"; glob characters in the
        # prefix are escaped so the pattern matches it literally.
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.key_prefix) + ":*"
        with redis.Redis.from_url(self.server_url) as client:
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch.clear()
            if batch:
                client.unlink(*batch)
        return True
