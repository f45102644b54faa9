"""The suite's own Redis database, emptied between tests that need a fresh start.

Provider answers, breakers and rate limits live in ``REDIS_URL``'s database beside the Django
cache, whose ``clear()`` deletes only the cache's own keys (config/cache.py). A test that must
ask a provider anew empties the whole database, which belongs to the suite.
"""

from __future__ import annotations

import redis
from django.conf import settings
from django.core.cache import cache


def flush_suite_redis() -> None:
    cache.clear()
    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            client.flushdb()
        finally:
            client.close()
