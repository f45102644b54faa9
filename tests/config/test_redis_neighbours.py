"""Queues and records survive their neighbours on Redis: a cache clear drops only cache keys,
and a task whose worker died is redelivered within the longest task's time, not an hour."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from enrichment import tasks

ROOT = Path(__file__).resolve().parents[2]

# Run with the production settings (config.settings) on the suite's Redis database: a job is
# queued as the API queues one, then the cache is cleared as an admin or a deploy script would.
_SCRIPT = textwrap.dedent(
    """
    import django, json, sys
    django.setup()
    from django.core.cache import cache
    from config.celery import app

    queue = sys.argv[1]
    cache.set("some-cached-value", 1)
    app.send_task("enrichment.process_job", args=[1], queue=queue)
    cache.clear()
    print(json.dumps({
        "cached": cache.get("some-cached-value"),
        "visibility_timeout": app.conf.broker_transport_options.get("visibility_timeout", 3600),
        "time_limit": app.conf.task_time_limit,
    }))
    """
)


@pytest.mark.integration
def test_a_cache_clear_keeps_queued_jobs_and_other_keys():
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    queue = f"test-neighbours-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(f"{queue}:not-a-cache-key", "kept")
    try:
        result = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", _SCRIPT, queue],
            cwd=ROOT,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "ENV_FILE": "",
                "DEBUG": "true",
                "REDIS_URL": settings.REDIS_URL,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        import json

        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["cached"] is None  # the cache itself was cleared
        assert client.llen(queue) == 1  # the queued job was not
        assert client.get(f"{queue}:not-a-cache-key") == b"kept"
        assert report["time_limit"] < report["visibility_timeout"] < 3600
    finally:
        client.delete(queue, f"{queue}:not-a-cache-key")
        for key in client.scan_iter(match=f"_kombu.binding.{queue}*"):
            client.delete(key)
        client.close()


@pytest.mark.django_db
def test_greylist_retries_are_never_delayed_past_the_visibility_timeout(
    monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(
        tasks.verify_contact_emails, "apply_async", lambda **kw: queued.append(kw["countdown"])
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.retry_greylisted_later({1: 3600, 2: 0}, attempt=3)
    assert queued and max(queued) <= settings.CELERY_MAX_COUNTDOWN
    assert (
        settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        > settings.CELERY_MAX_COUNTDOWN
    )


def test_the_embedded_broker_still_connects(tmp_path):
    # The visibility timeout is a Redis option: the SQLite broker would refuse it.
    script = (
        "import django; django.setup()\n"
        "from config.celery import app\n"
        "with app.connection_for_write() as conn:\n"
        "    conn.ensure_connection(max_retries=1)\n"
        "    with conn.SimpleQueue('celery') as queue:\n"
        "        print('connected', queue.qsize() >= 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "ENV_FILE": "", "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "connected True" in result.stdout
