"""Benchmark: a bulk job through a three-provider waterfall on two Celery workers (Redis).

``--rows`` leads (2,000 by default), 30 % of them repeats of others, are enriched for ``title``
through the waterfall Hunter → People Data Labs → Prospeo (each a stored ``Provider`` row of the
built-in adapter) with a minimum confidence of 75: Hunter's titles (confidence 70) are never
enough, so every lead falls through to PDL, which knows 60 % of them (a 404, its no-match, for
the rest), and those go on to Prospeo. The three loopback providers
(``tests.support.provider_server``, in this process) answer after 20 ms and enforce their own
limits (token buckets at ``--rate`` requests/s each, bucket of 2, 4 in flight; 429 beyond).
Emails are found and checked against a loopback DNS server. Two Celery worker processes
(``--concurrency`` 4 each) on Redis and a throwaway PostgreSQL database do the work.

Printed: rows/s; the bound the rate limits set (the busiest provider's unique questions,
Hunter's domain searches included, at its rate) and the fraction of it reached (target >= 0.9); the 429s the providers sent (target 0);
paid calls per unique question per provider (target 1.0: repeats are answered from stored
answers); the workers' peak memory (resident set, from /proc).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from tests.enrichment.emails.conftest import OUTSIDE_DNS  # noqa: E402
from tests.providers.conftest import fixture_json  # noqa: E402
from tests.support.dns_server import DnsServer, mail_zone  # noqa: E402
from tests.support.provider_server import LimitedProvider  # noqa: E402

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
DOMAINS = [f"company{n}.example" for n in range(40)]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret",
         "Ken", "Radia", "Tony", "Linus", "Guido", "Anita", "Hedy", "Katherine", "Dennis"]  # fmt: skip
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus",
        "Hamilton", "Thompson", "Perlman", "Hoare", "Torvalds", "Rossum", "Borg", "Lamarr",
        "Johnson", "Ritchie", "Wirth", "Kay", "Engelbart", "Shannon", "Neumann", "Church"]  # fmt: skip


def leads(count: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    unique = []
    seen = set()
    while len(unique) < round(count * 0.7):
        row = (rng.choice(FIRST), rng.choice(LAST), rng.choice(DOMAINS))
        if row not in seen:
            seen.add(row)
            unique.append({"first": row[0], "last": row[1], "domain": row[2]})
    rows = unique + [rng.choice(unique) for _ in range(count - len(unique))]
    rng.shuffle(rows)
    return rows


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process and its children (the prefork pool), in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        status = Path(f"/proc/{p}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total = max(total, int(line.split()[1]))
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument(
        "--rate", type=float, default=15.0, help="each provider's limit, per second"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="pool size of each worker")
    args = parser.parse_args()

    import psycopg

    db_name = f"bench_job_{uuid.uuid4().hex[:8]}"
    queue = f"bench-{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    dns = DnsServer({**OUTSIDE_DNS, **{k: v for d in DOMAINS for k, v in mail_zone(d).items()}})
    dns.start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}",
        "REDIS_URL": REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "ENRICH_DNS_NAMESERVERS": dns.nameserver,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from budgets.models import Budget
    from enrichment import jobs
    from enrichment.models import EnrichmentJob, JobStatus
    from providers.models import Provider, ProviderCall

    limits = {"rate": args.rate, "burst": 2, "max_in_flight": 4, "delay": 0.02}
    servers = {
        "hunter": LimitedProvider(fixture_json("hunter", "email_finder.json"), **limits),
        "pdl": LimitedProvider(
            fixture_json("pdl", "person_enrich.json"),
            miss=(0.4, 404, fixture_json("pdl", "error_404.json")),
            **limits,
        ),
        "prospeo": LimitedProvider(fixture_json("prospeo", "enrich_person.json"), **limits),
    }
    prefixes = {"hunter": "/v2", "pdl": "/v5", "prospeo": ""}
    workers: list[subprocess.Popen] = []
    try:
        for slug, server in servers.items():
            server.__enter__()
            provider = Provider(
                slug=slug,
                name=slug,
                adapter=slug,
                base_url=server.url + prefixes[slug],
                rate_limit_per_minute=round(args.rate * 60),
                concurrency=4,
            )
            provider.set_credentials({"api_key": f"{slug}-bench-key"})
            provider.save()
        Budget.objects.create(
            scope="organisation", limit_amount=100000, period_start=django.utils.timezone.now()
        )
        rows = leads(args.rows)
        job = jobs.job_create(
            rows=rows,
            mapping={"first_name": "first", "last_name": "last", "domain": "domain"},
            name="bench",
            fields=["title"],
            providers=list(servers),
            min_confidence=75,
        )
        for n in range(2):
            workers.append(
                subprocess.Popen(  # noqa: S603 - our own worker command
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
                        str(args.concurrency),
                        "-Q",
                        queue,
                        "-n",
                        f"bench{n}@%h",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        "--loglevel",
                        "WARNING",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
            )
        time.sleep(3)  # the workers start
        from config.celery import app

        started = time.monotonic()
        for _ in range(2 * args.concurrency):
            app.send_task("enrichment.process_job", args=[job.pk], queue=queue)
        peaks = [0.0, 0.0]
        while True:
            job = EnrichmentJob.objects.get(pk=job.pk)
            peaks = [max(p, peak_rss_mb(w.pid)) for p, w in zip(peaks, workers, strict=True)]
            if job.status in (JobStatus.COMPLETED, JobStatus.PAUSED, JobStatus.CANCELLED):
                break
            time.sleep(0.5)
        wall = time.monotonic() - started

        print(
            f"{args.rows} rows ({len({tuple(r.values()) for r in rows})} unique), waterfall "
            f"hunter -> pdl -> prospeo for title, 2 workers x {args.concurrency}, "
            f"limits {args.rate:g}/s each, {os.cpu_count()} CPUs"
        )
        print(f"job {job.status}: {job.succeeded_items} succeeded, {job.failed_items} failed "
              f"in {wall:.1f} s = {args.rows / wall:.1f} rows/s")  # fmt: skip
        bound = 0.0
        for slug, server in servers.items():
            calls = ProviderCall.objects.filter(provider__slug=slug, cache_hit=False)
            paid = calls.count()
            unique = calls.values("operation", "input_fingerprint").distinct().count()
            bound = max(bound, unique / server.rate)
            print(
                f"  {slug:<8} requests {server.count:>5}  429s {server.statuses().count(429):>3}"
                f"  paid calls per unique question {paid / max(1, unique):.3f}"
            )
        print(f"bound set by the rate limits: {bound:.1f} s; fraction reached {bound / wall:.3f}")
        print(f"workers' peak memory: {', '.join(f'{p:.0f} MB' for p in peaks)}")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        for server in servers.values():
            server.__exit__(None, None, None)
        dns.stop()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
