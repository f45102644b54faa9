"""A real Celery worker on Redis runs tasks, and acks_late brings back a killed task."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker():
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (make test provides it)")
    queue = f"test-{os.getpid()}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings"}
    proc = subprocess.Popen(  # noqa: S603 - our own worker command
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "-Q",
            queue,
            "--include",
            "tests.support.celery_tasks",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield queue
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_the_configuration_acks_late_and_requeues_on_worker_loss():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit


def test_a_task_runs_on_the_worker(worker):
    result = app.send_task("tests.add", args=(2, 3), queue=worker)
    assert result.get(timeout=60) == 5


def test_a_task_killed_with_its_worker_runs_again(worker, tmp_path):
    marker = tmp_path / "runs"
    result = app.send_task("tests.crash_once", args=(str(marker),), queue=worker)
    outcome = result.get(timeout=90)
    assert outcome["runs"] == 2
    assert int(marker.read_text()) == 2
