"""Benchmark: bulk email verification, ours against python-email-validator.

10,000 addresses over 500 domains (most with MX, some with only an A record, some with a null
MX, some that do not exist, and a few malformed rows), checked against a loopback DNS server
that adds 30 ms to every answer, as an uncached recursive resolver would.

* ours: ``enrichment.emails.verify.verify_emails`` (syntax, flags, MX through
  ``MxResolver.resolve_many``, score), after ``django.setup()`` with ``config.settings`` and a
  cold in-memory cache;
* ours again with settings only (no ``django.setup()``): ``verify_emails`` needs settings and
  the cache, not the app registry, whose imports (models, admin, Celery) are most of
  start-up;
* the command users run, ``manage.py verify_emails IN.csv -o OUT.csv``, CSV in and out, with
  the project's settings and a cold in-memory cache (``bench/verify_settings.py``);
* the peer: ``email_validator.validate_email(email, check_deliverability=True,
  dns_resolver=caching_resolver(...))`` pointed at the same nameserver, called once per
  address in a loop, as its users call it.

Each side runs in a fresh Python process, timed from start to exit (interpreter start,
imports and Django set-up included); the DNS server runs in this parent process so neither
side pays for it. Start-up assumes the virtualenv's bytecode is compiled, as ``make install``
does. Prints emails/s for both, the ratio, and whether the two agree on which
addresses are undeliverable.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python bench/verify_emails.py"

EMAILS = 10_000
DOMAINS = 500
DELAY = 0.030
SEED = 20_250_101

FIRST = ["anna", "ben", "chloe", "david", "emma", "felix", "grace", "hugo", "iris", "jack",
         "karin", "liam", "maya", "noah", "olga", "paul", "quinn", "rosa", "sam", "tara"]  # fmt: skip
LAST = ["smith", "jones", "garcia", "muller", "rossi", "dubois", "novak", "silva", "kim",
        "nguyen", "olsen", "weber", "costa", "lopez", "meyer", "brown"]  # fmt: skip
MALFORMED = ["not-an-email", "jane@", "@acme.com", "a b@acme.com", "jane@@acme.com"]


def build_dataset() -> tuple[dict[str, dict[str, list[str]]], list[str], dict[str, int]]:
    """Zones for the DNS server, the rows to verify, and how many domains of each kind."""
    rng = random.Random(SEED)
    zones: dict[str, dict[str, list[str]]] = {}
    kinds = {"mx": 400, "a_only": 50, "null_mx": 25, "nxdomain": 25}
    domains: list[str] = []
    for kind, count in kinds.items():
        for i in range(count):
            domain = f"{kind.replace('_', '')}{i}-corp.com"
            domains.append(domain)
            if kind == "mx":
                zones[domain] = {"MX": [f"10 mx1.{domain}.", f"20 mx2.{domain}."]}
            elif kind == "a_only":
                # A public address: email-validator ignores private ones as a fallback.
                zones[domain] = {"A": [f"93.184.{i // 250}.{i % 250 + 1}"]}
            elif kind == "null_mx":
                zones[domain] = {"MX": ["0 ."]}
            # nxdomain: not in the zones at all.
    assert len(domains) == DOMAINS
    per_domain = EMAILS // DOMAINS
    rows: list[str] = []
    for domain in domains:
        for _ in range(per_domain):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", first, f"{first}_{last}"])
            rows.append(f"{local}{rng.randint(1, 99)}@{domain}")
    # A few malformed rows, as any real file has.
    for i, bad in enumerate(MALFORMED * 10):
        rows[i * 197] = bad
    rng.shuffle(rows)
    return zones, rows, kinds


# --- the two sides, each run in its own process ---------------------------------------------


def run_ours(rows: list[str], nameserver: str, *, full_setup: bool = True) -> dict:
    started = time.perf_counter()
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django
    from django.conf import settings

    # A cold, private cache: no answer from an earlier run, nothing written to Redis.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "b"}
    }
    if full_setup:
        # What a management command or a Celery worker pays: the whole app registry.
        django.setup()
    from enrichment.emails.mx import MxResolver
    from enrichment.emails.verify import verify_emails

    set_up = time.perf_counter()
    resolver = MxResolver(nameservers=[nameserver], offline=False, timeout=5.0)
    verdicts = [r.status != "invalid" for r in verify_emails(rows, resolver=resolver)]
    finished = time.perf_counter()
    return {
        "setup": set_up - started,
        "work": finished - set_up,
        "deliverable": "".join("1" if v else "0" for v in verdicts),
    }


def run_peer(rows: list[str], nameserver: str) -> dict:
    started = time.perf_counter()
    from email_validator import EmailNotValidError, caching_resolver, validate_email

    host, _, port = nameserver.partition(":")
    resolver = caching_resolver(timeout=5)
    resolver.port = int(port)
    resolver.nameservers = [host]
    set_up = time.perf_counter()
    verdicts = []
    for row in rows:
        try:
            validate_email(row, check_deliverability=True, dns_resolver=resolver)
        except EmailNotValidError:
            verdicts.append(False)
        else:
            verdicts.append(True)
    finished = time.perf_counter()
    return {
        "setup": set_up - started,
        "work": finished - set_up,
        "deliverable": "".join("1" if v else "0" for v in verdicts),
    }


def worker(side: str, rows_file: str, nameserver: str) -> None:
    rows = json.loads(Path(rows_file).read_text())
    if side == "peer":
        result = run_peer(rows, nameserver)
    else:
        result = run_ours(rows, nameserver, full_setup=side == "ours")
    print(json.dumps(result))


# --- the parent: DNS server, processes, figures --------------------------------------------


def timed_command(rows: list[str], nameserver: str, workdir: Path) -> tuple[float, dict]:
    """``manage.py verify_emails IN.csv -o OUT.csv`` as a user runs it, CSV in and out."""
    source, target = workdir / "emails.csv", workdir / "verified.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email"])
        writer.writerows([row] for row in rows)
    env = {
        **os.environ,
        "REDIS_URL": "",
        "ENRICH_OFFLINE": "false",
        "ENRICH_DNS_NAMESERVERS": nameserver,
        # A cold, private cache, as for the library rows.
        "DJANGO_SETTINGS_MODULE": "bench.verify_settings",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "manage.py", "verify_emails", str(source), "-o", str(target)]
    started = time.perf_counter()
    completed = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"manage.py verify_emails failed:\n{completed.stderr}")
    with target.open(newline="", encoding="utf-8") as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    deliverable = "".join("0" if status == "invalid" else "1" for status in statuses)
    return elapsed, {"deliverable": deliverable}


def timed_side(side: str, rows_file: str, nameserver: str) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": "", "ENRICH_OFFLINE": "false"}
    command = [sys.executable, __file__, "--side", side, "--rows", rows_file, "--ns", nameserver]
    started = time.perf_counter()
    completed = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"{side} failed:\n{completed.stderr}")
    return elapsed, json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.support.dns_server import DnsServer

    print(f"$ {COMMAND}")
    zones, rows, kinds = build_dataset()
    print(
        f"{len(rows):,} emails over {DOMAINS} domains ({kinds['mx']} MX, {kinds['a_only']} A only, "
        f"{kinds['null_mx']} null MX, {kinds['nxdomain']} NXDOMAIN; {len(MALFORMED) * 10} "
        f"malformed rows); loopback DNS adds {DELAY * 1000:.0f} ms per answer"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(rows, handle)
        rows_file = handle.name
    try:
        with DnsServer(zones, delay=DELAY) as dns:
            ours_time, ours = timed_side("ours", rows_file, dns.nameserver)
            ours_queries = dns.queries
            dns.reset_counts()
            peer_time, peer = timed_side("peer", rows_file, dns.nameserver)
            peer_queries = dns.queries
            dns.reset_counts()
            bare_time, bare = timed_side("ours-settings-only", rows_file, dns.nameserver)
            bare_queries = dns.queries
            dns.reset_counts()
            with tempfile.TemporaryDirectory() as workdir:
                command_time, command = timed_command(rows, dns.nameserver, Path(workdir))
            command_queries = dns.queries
    finally:
        os.unlink(rows_file)

    ours_rate, peer_rate = len(rows) / ours_time, len(rows) / peer_time
    print()
    print(f"{'':26}{'wall s':>8}{'emails/s':>10}{'start-up s':>12}{'work s':>8}{'DNS queries':>13}")
    for name, elapsed, rate, info, queries in (
        ("ours (verify_emails)", ours_time, ours_rate, ours, ours_queries),
        ("email-validator", peer_time, peer_rate, peer, peer_queries),
        ("ours, no django.setup()", bare_time, len(rows) / bare_time, bare, bare_queries),
        ("manage.py verify_emails", command_time, len(rows) / command_time, {}, command_queries),
    ):
        setup, work = info.get("setup"), info.get("work")
        print(
            f"{name:<26}{elapsed:>8.2f}{rate:>10,.0f}"
            + (f"{setup:>12.2f}{work:>8.2f}" if setup is not None else f"{'-':>12}{'-':>8}")
            + f"{queries:>13,}"
        )
    print(f"\nratio (ours / peer, whole process): {ours_rate / peer_rate:.1f}x")
    print(
        f"ratio (manage.py verify_emails, CSV in and out / peer, whole process): "
        f"{peer_time / command_time:.1f}x"
    )
    print(f"ratio (ours / peer, after start-up): {peer['work'] / ours['work']:.1f}x")
    print(
        f"ratio (ours with settings only, no app registry / peer, whole process): "
        f"{peer_time / bare_time:.1f}x"
    )
    if command["deliverable"] != ours["deliverable"]:
        print("warning: the command and the library disagree on some rows")
    agree = sum(a == b for a, b in zip(ours["deliverable"], peer["deliverable"], strict=True))
    undeliverable = ours["deliverable"].count("0"), peer["deliverable"].count("0")
    print(
        f"verdicts: {agree:,}/{len(rows):,} agree on deliverable vs not "
        f"(undeliverable: ours {undeliverable[0]:,}, peer {undeliverable[1]:,})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--side", choices=["ours", "ours-settings-only", "peer"], help=argparse.SUPPRESS
    )
    parser.add_argument("--rows", help=argparse.SUPPRESS)
    parser.add_argument("--ns", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        worker(args.side, args.rows, args.ns)
    else:
        main()
