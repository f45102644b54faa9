"""Settings for the test suite.

The suite runs against the real services a deployment uses: PostgreSQL and Redis when they
answer on their standard local ports (``make test`` makes sure they do), the embedded SQLite
set-up otherwise, so a quick ``pytest`` on a bare laptop still works.
"""

from __future__ import annotations

import os
import socket


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


if "DATABASE_URL" not in os.environ and _reachable("127.0.0.1", 5432):
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/leadforge"
if "REDIS_URL" not in os.environ and _reachable("127.0.0.1", 6379):
    os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/15"
os.environ.setdefault("ENRICH_ALLOW_PRIVATE_NETWORKS", "true")
os.environ.setdefault("DEBUG", "true")
# No `.env` (make run's development file) reaches the tests: they see only the environment.
os.environ["ENV_FILE"] = ""
# A key for the test database's credentials only, which are never real ones.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "dGVzdC1vbmx5LWtleS1ub3QtYS1yZWFsLXNlY3JldCE=")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

if REDIS_URL:  # noqa: F405
    # Tests empty their Redis database (tests/support/redis_db.py); keep the broker and results
    # in a database of their own so that never drops a queued task of a worker test.
    CELERY_BROKER_URL = CELERY_RESULT_BACKEND = REDIS_URL.rsplit("/", 1)[0] + "/13"  # noqa: F405
