"""A bulk job on a real Celery worker (Redis): the worker is killed mid-job, another takes
over, every item ends with a result or a reason, and no input is asked of the provider twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app
from enrichment import jobs
from enrichment.models import ItemStatus, JobStatus
from providers.models import Provider
from tests.enrichment.emails.conftest import OUTSIDE_DNS
from tests.providers.conftest import fixture_json
from tests.support.dns_server import DnsServer, mail_zone
from tests.support.provider_server import LimitedProvider

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
NAMES = [
    ("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"), ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"), ("Donald", "Knuth"), ("Frances", "Allen"), ("John", "Backus"),
    ("Margaret", "Hamilton"), ("Ken", "Thompson"), ("Radia", "Perlman"), ("Tony", "Hoare"),
]  # fmt: skip


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own worker command
        [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
            "--concurrency", "2", "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "--without-gossip",
            "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed with its pool children
    )  # fmt: skip


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_a_job_survives_its_worker_being_killed_without_asking_twice(settings_dict=None):
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL and Redis (make test provides them)")
    dns = DnsServer({**OUTSIDE_DNS, **mail_zone("reddit.com")}).start()
    body = fixture_json("hunter", "email_finder.json")
    queue = f"jobs-{os.getpid()}"
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "ENRICH_DNS_NAMESERVERS": dns.nameserver,
        "ENRICH_ITEM_LEASE_SECONDS": "3",
        "PROVIDER_LIMIT_WAIT_SECONDS": "2",
    }
    try:
        with LimitedProvider(body, delay=0.4, max_in_flight=2) as server:
            hunter = Provider(
                slug="hunter", name="Hunter", adapter="hunter", base_url=f"{server.url}/v2",
                concurrency=2, timeout_seconds=1,
            )  # fmt: skip
            hunter.set_credentials({"api_key": "hunter-key-1234"})
            hunter.save()
            job = jobs.job_create(
                rows=[{"first": f, "last": last, "domain": "reddit.com"} for f, last in NAMES],
                mapping={"first_name": "first", "last_name": "last", "domain": "domain"},
                name="killed",
                fields=["title"],
                providers=["hunter"],
                min_confidence=60,
            )
            first = start_worker(env)
            for _ in range(2):
                app.send_task("enrichment.process_job", args=[job.pk], queue=queue)
            finders = lambda: [p for _, p, _ in server.requests if "email-finder" in p]  # noqa: E731
            wait_for(lambda: len(finders()) >= 4, 90, "the first worker to be mid-job")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(30)
            seen_when_killed = len(finders())
            assert seen_when_killed < len(NAMES), "the job finished before the kill"

            second = start_worker(env)
            try:
                # What beat does every minute: once the dead worker's leases end, its job is
                # found and queued again.
                time.sleep(3.5)
                wait_for(lambda: jobs.jobs_needing_work() == [job.pk], 30, "the stalled job")
                app.send_task("enrichment.process_job", args=[job.pk], queue=queue)
                wait_for(
                    lambda: job.__class__.objects.get(pk=job.pk).status == JobStatus.COMPLETED,
                    120,
                    "the job to complete on the second worker",
                )
            finally:
                os.killpg(second.pid, signal.SIGTERM)
                second.wait(30)

            items = list(job.items.order_by("index"))
            assert all(i.status in (ItemStatus.SUCCEEDED, ItemStatus.SKIPPED) for i in items)
            assert all(i.status == ItemStatus.SUCCEEDED or i.error for i in items)
            repeated = [q for q, n in Counter(finders()).items() if n > 1]
            assert repeated == [], "an input was asked of the provider twice"
            assert len(finders()) > seen_when_killed  # the second worker did the rest
    finally:
        dns.stop()
