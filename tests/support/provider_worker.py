"""A worker process for the cross-process provider tests and the client benchmark.

``python -m tests.support.provider_worker ACTION SPEC_JSON``, with ``DATABASE_URL`` (and
``REDIS_URL``, empty for the embedded mode) in the environment. It prints one JSON object per
line. Actions:

``migrate``   create the schema (a fresh SQLite file);
``setup``     ``{"providers": [{fields..., "credentials": {...}}], "budgets": [{fields...}]}``;
``call``      ``{"provider": slug, "operation": op, "inputs": [{...}, ...], "threads": n,
              "start_at": unix time}``: each input once, on ``threads`` threads, starting
              together at ``start_at``; one line per call, ``{"ok": ...}`` or ``{"error": code}``,
              and with ``"report_cpu": true`` a last line with the process's CPU seconds;
``report``    ``{"provider": slug}``: the ledger, spend entries and budgets;
``release``   ``{"after_seconds": s}``: release reservations as beat would ``s`` seconds from now.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django

    django.setup()


def _emit(value: Any) -> None:
    print(json.dumps(value, default=str), flush=True)


def migrate(_: dict) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _emit({"migrated": True})


def setup(spec: dict) -> None:
    from django.utils import timezone

    from budgets.models import Budget
    from providers.models import Provider

    for fields in spec.get("providers", []):
        fields = dict(fields)
        credentials = fields.pop("credentials", {})
        provider = Provider(**fields)
        provider.set_credentials(credentials)
        provider.save()
    for fields in spec.get("budgets", []):
        Budget.objects.create(period_start=timezone.now(), **fields)
    _emit({"setup": True})


def call(spec: dict) -> None:
    from django.db import connection

    from providers.client import call_provider
    from providers.errors import ProviderError
    from providers.models import Provider

    provider = Provider.objects.get(slug=spec["provider"])
    connection.close()

    def one(inputs: dict) -> dict:
        try:
            result = call_provider(provider, spec["operation"], inputs)
            return {"ok": result.found, "cost": str(result.cost), "extra": result.extra}
        except ProviderError as exc:
            return {"error": exc.code, "kind": str(exc.kind), "message": exc.message}
        finally:
            connection.close()

    delay = spec.get("start_at", 0) - time.time()
    if delay > 0:
        time.sleep(delay)
    cpu = time.process_time()
    with ThreadPoolExecutor(max_workers=spec.get("threads", 1)) as pool:
        outcomes = list(pool.map(one, spec["inputs"]))
    cpu = time.process_time() - cpu
    for outcome in outcomes:
        _emit(outcome)
    if spec.get("report_cpu"):
        _emit({"cpu_s": cpu})


def report(spec: dict) -> None:
    from budgets.models import Budget, SpendEntry
    from providers.models import ProviderAnswer, ProviderCall

    calls = ProviderCall.objects.filter(provider__slug=spec["provider"]).order_by("pk")
    _emit(
        {
            "calls": list(calls.values("pk", "status", "cost", "cache_hit", "error_code")),
            "answers": ProviderAnswer.objects.filter(provider__slug=spec["provider"]).count(),
            "entries": list(
                SpendEntry.objects.order_by("pk").values(
                    "status", "reserved_amount", "settled_amount", "provider_call_id"
                )
            ),
            "budgets": list(Budget.objects.order_by("pk").values("spent", "reserved")),
        }
    )


def release(spec: dict) -> None:
    from django.utils import timezone

    from budgets.services import spend_release_expired

    later = timezone.now() + timedelta(seconds=spec.get("after_seconds", 0))
    _emit({"released": spend_release_expired(now=later)})


ACTIONS = {"migrate": migrate, "setup": setup, "call": call, "report": report, "release": release}


def main() -> None:
    action, spec = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    _setup_django()
    ACTIONS[action](spec)


if __name__ == "__main__":
    main()
