"""Provider calls from several worker processes, as a deployment makes them, in both modes.

Each worker is ``python -m tests.support.provider_worker`` on a stored ``Provider`` row of a
built-in adapter, against a loopback provider that enforces its own limits. The modes:
PostgreSQL (with Redis) on the test database, and the embedded mode on an SQLite file with no
Redis at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.providers.conftest import fixture_json
from tests.support.provider_server import LimitedProvider

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
HUNTER_FOUND = fixture_json("hunter", "email_finder.json")
APOLLO_MATCH = fixture_json("apollo", "people_match.json")


class Deployment:
    """Worker processes sharing one database (and Redis, or none)."""

    def __init__(self, mode: str, tmp_path: Path) -> None:
        self.mode = mode
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        env["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
        if mode == "postgresql":
            if connection.vendor != "postgresql":
                pytest.skip("the suite runs on SQLite here")
            db = connection.settings_dict
            env["DATABASE_URL"] = (
                f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                f"{db['PORT'] or 5432}/{db['NAME']}"
            )
            env["REDIS_URL"] = settings.REDIS_URL
        else:
            env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"
            env["REDIS_URL"] = ""
        self.env = env
        if mode == "sqlite":
            self.run("migrate")

    def popen(self, action: str, spec: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(  # noqa: S603 - our own worker module, our own arguments
            [sys.executable, "-m", "tests.support.provider_worker", action, json.dumps(spec or {})],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @staticmethod
    def lines(process: subprocess.Popen, timeout: float = 120) -> list[dict]:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err[-3000:]
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def run(self, action: str, spec: dict | None = None) -> list[dict]:
        return self.lines(self.popen(action, spec))

    def call_together(self, slug: str, operation: str, groups: list[list[dict]], threads: int):
        """Each group of inputs from its own process, all starting at the same instant."""
        start_at = time.time() + 4  # after every process has loaded Django
        spec = {"provider": slug, "operation": operation, "threads": threads, "start_at": start_at}
        processes = [self.popen("call", {**spec, "inputs": inputs}) for inputs in groups]
        return [line for process in processes for line in self.lines(process)]


@pytest.fixture(params=["postgresql", "sqlite"])
def deployment(request, tmp_path):
    return Deployment(request.param, tmp_path)


def person(n: int) -> dict:
    return {"first_name": "Alexis", "last_name": f"Ohanian{n}", "domain": "reddit.example"}


def hunter(server: LimitedProvider, **fields) -> dict:
    return {
        "slug": "hunter",
        "name": "Hunter",
        "adapter": "hunter",
        "base_url": f"{server.url}/v2",
        "credentials": {"api_key": "hunter-key-1234"},
        **fields,
    }


def test_eight_paid_calls_against_room_for_five_pay_for_exactly_five(deployment):
    with LimitedProvider(HUNTER_FOUND, delay=0.3) as server:
        deployment.run(
            "setup",
            {
                "providers": [
                    hunter(server, concurrency=8, config={"costs": {"find_email": "0.10"}})
                ],
                "budgets": [{"scope": "organisation", "limit_amount": "0.50"}],
            },
        )

        outcomes = deployment.call_together(
            "hunter",
            "find_email",
            [[person(n) for n in range(4)], [person(n) for n in range(4, 8)]],
            4,
        )

        assert (
            sorted(o.get("error", "ok") for o in outcomes) == ["budget_exhausted"] * 3 + ["ok"] * 5
        )
        assert server.count == 5
    (report,) = deployment.run("report", {"provider": "hunter"})
    assert [Decimal(b["spent"]) for b in report["budgets"]] == [Decimal("0.50")]
    assert [Decimal(b["reserved"]) for b in report["budgets"]] == [Decimal(0)]
    # One ledger row per request sent, each linked from the spend it settled.
    paid = [c for c in report["calls"] if c["status"] == "success"]
    assert len(paid) == len(report["calls"]) == 5
    settled = [e for e in report["entries"] if e["status"] == "settled"]
    assert sorted(e["provider_call_id"] for e in settled) == sorted(c["pk"] for c in paid)


def test_limits_hold_across_processes(deployment):
    # The provider's bucket of 3 forgives a request sent up to 0.2 s late (a busy CPU) and
    # followed by one on time; a client without a shared limit sends 24 at once and fails.
    with LimitedProvider(HUNTER_FOUND, delay=0.05, rate=10, burst=3, max_in_flight=2) as server:
        deployment.run(
            "setup", {"providers": [hunter(server, rate_limit_per_minute=600, concurrency=2)]}
        )

        outcomes = deployment.call_together(
            "hunter",
            "find_email",
            [[person(n) for n in range(12)], [person(n) for n in range(100, 112)]],
            2,
        )

        assert [o.get("error") for o in outcomes] == [None] * 24
        assert server.statuses() == [200] * 24


def test_a_worker_killed_mid_call_leaves_its_intent_and_is_not_repeated(deployment):
    import threading

    hang = threading.Event()
    with LimitedProvider(APOLLO_MATCH, hang=hang) as server:
        apollo = {
            "slug": "apollo",
            "name": "Apollo",
            "adapter": "apollo",
            "base_url": f"{server.url}/api/v1",
            "credentials": {"api_key": "apollo-key-5678"},
            "config": {"webhook_base_url": "https://leads.example.com"},
        }
        deployment.run(
            "setup",
            {"providers": [apollo], "budgets": [{"scope": "organisation", "limit_amount": "10"}]},
        )
        spec = {"provider": "apollo", "operation": "find_phone", "inputs": [person(1)]}
        worker = deployment.popen("call", spec)
        assert server.received.wait(60), "the request never reached the provider"
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=30)

        (report,) = deployment.run("report", {"provider": "apollo"})
        assert [c["status"] for c in report["calls"]] == ["pending"]
        assert [e["status"] for e in report["entries"]] == ["reserved"]
        assert report["entries"][0]["provider_call_id"] == report["calls"][0]["pk"]
        assert deployment.run("release", {"after_seconds": 0}) == [{"released": 0}]
        assert deployment.run("release", {"after_seconds": 3600}) == [{"released": 1}]

        (again,) = deployment.run("call", spec)

        assert again["error"] == "unsettled_call"
        assert server.count == 1
    (report,) = deployment.run("report", {"provider": "apollo"})
    assert [Decimal(b["reserved"]) for b in report["budgets"]] == [Decimal(0)]
