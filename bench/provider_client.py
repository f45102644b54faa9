"""Benchmark: how much of each provider's rate limit the client uses, from several processes.

Three loopback providers (``tests.support.provider_server.LimitedProvider``, in this process)
answer a Hunter email-finder response after 20 ms and **enforce their own limits**: a token
bucket at 10, 20 and 40 requests/s (``--scale`` multiplies them; documented provider limits are
5-15/s) with a bucket of 2, and at most 4 requests in flight; beyond either they answer 429. Each is a stored ``Provider`` row of the
built-in Hunter adapter with the same limits (``rate_limit_per_minute``, ``concurrency`` 4).

Worker processes (``tests.support.provider_worker``, ``--processes`` per provider, 4 threads
each) make ``--seconds`` worth of calls at each limit, all with distinct inputs (so every call
is paid, and spends from an organisation budget), through the real client, in both modes:

* ``redis``: a throwaway PostgreSQL database (created, migrated and dropped here) and Redis;
* ``embedded``: an SQLite file in a temporary directory, no Redis.

Printed per mode and provider: the rate achieved at the server (answered requests over the
span from first to last) as a fraction of the limit (target >= 0.9), the 429s the server sent
(target 0) and the errors the client raised; then, for information only, the worker processes'
CPU per call (Django start-up excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from tests.providers.conftest import fixture_json  # noqa: E402 - needs ROOT on sys.path
from tests.support.provider_server import LimitedProvider  # noqa: E402

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LIMITS = (10, 20, 40)
THREADS = 4


def worker(env: dict, action: str, spec: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.provider_worker", action, json.dumps(spec)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lines(process: subprocess.Popen) -> list[dict]:
    out, err = process.communicate(timeout=900)
    if process.returncode:
        raise SystemExit(f"worker failed: {err[-2000:]}")
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def run_mode(mode: str, args: argparse.Namespace) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        LOG_LEVEL="WARNING",
        # Production settings: DEBUG off (no query log), so real keys.
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    tmp = tempfile.TemporaryDirectory()
    db_name = f"bench_client_{uuid.uuid4().hex[:8]}"
    if mode == "redis":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{db_name}"')
        env.update(DATABASE_URL=PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}", REDIS_URL=REDIS_URL)
    else:
        env.update(DATABASE_URL=f"sqlite:///{tmp.name}/bench.sqlite3", REDIS_URL="")
    try:
        lines(worker(env, "migrate", {}))
        servers = [
            LimitedProvider(
                fixture_json("hunter", "email_finder.json"),
                delay=0.02,
                rate=limit * args.scale,
                burst=2,
                max_in_flight=4,
            ).__enter__()
            for limit in LIMITS
        ]
        slugs = [f"bench-{round(limit * args.scale)}" for limit in LIMITS]
        providers = [
            {
                "slug": slug,
                "name": slug,
                "adapter": "hunter",
                "base_url": f"{server.url}/v2",
                "rate_limit_per_minute": round(server.rate * 60),
                "concurrency": 4,
                "credentials": {"api_key": "bench-key"},
            }
            for slug, server in zip(slugs, servers, strict=True)
        ]
        budget = {"scope": "organisation", "limit_amount": "1000000"}
        lines(worker(env, "setup", {"providers": providers, "budgets": [budget]}))
        start_at = time.time() + 5
        processes = []
        for slug, server in zip(slugs, servers, strict=True):
            per_process = round(server.rate * args.seconds / args.processes)
            for p in range(args.processes):
                inputs = [
                    {"first_name": "Ada", "last_name": f"L{p}x{n}", "domain": f"{slug}.example"}
                    for n in range(per_process)
                ]
                spec = {
                    "provider": slug,
                    "operation": "find_email",
                    "inputs": inputs,
                    "threads": THREADS,
                    "start_at": start_at,
                    "report_cpu": True,
                }
                processes.append((slug, worker(env, "call", spec)))
        outcomes: dict[str, list[dict]] = {slug: [] for slug in slugs}
        for slug, process in processes:
            outcomes[slug] += lines(process)
        print(
            f"\n{mode}: {args.processes} processes x {THREADS} threads per provider, "
            f"{os.cpu_count()} CPUs; servers answer after 20 ms, bucket of 2, 4 in flight"
        )
        print(
            f"{'provider':<10} {'limit/s':>7} {'calls':>6} {'achieved/s':>10} {'fraction':>8} "
            f"{'429s':>5} {'errors':>6} {'CPU/call':>9}"
        )
        for slug, server in zip(slugs, servers, strict=True):
            answered = sorted(t for t, _, status in server.requests if status == 200)
            rate = (len(answered) - 1) / (answered[-1] - answered[0]) if len(answered) > 1 else 0
            calls = [o for o in outcomes[slug] if "cpu_s" not in o]
            errors = [o for o in calls if "error" in o]
            cpu = sum(o["cpu_s"] for o in outcomes[slug] if "cpu_s" in o)
            print(
                f"{slug:<10} {server.rate:>7.0f} {len(calls):>6} {rate:>10.1f} "
                f"{rate / server.rate:>8.3f} {server.statuses().count(429):>5} {len(errors):>6} "
                f"{cpu / max(1, len(calls)) * 1000:>7.2f}ms"
            )
            if server.refusals:
                reasons = ", ".join(f"{n} {why}" for why, n in sorted(server.refusals.items()))
                print(f"  429s by the server's reason: {reasons}")
            if errors:
                print(f"  first error: {errors[0]}")
        for server in servers:
            server.__exit__(None, None, None)
    finally:
        tmp.cleanup()
        if mode == "redis":
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["redis", "embedded", "both"], default="both")
    parser.add_argument("--processes", type=int, default=2, help="worker processes per provider")
    parser.add_argument(
        "--seconds", type=float, default=10, help="calls worth of this many seconds"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the three limits")
    args = parser.parse_args()
    for mode in ("redis", "embedded") if args.mode == "both" else (args.mode,):
        run_mode(mode, args)


if __name__ == "__main__":
    main()
