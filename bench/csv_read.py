"""Benchmark: CSV in, at two sizes ten times apart, to show time and memory are linear.

Generates lead files shaped like an Apollo export (17 columns, names with accents and
particles, 40 % of rows with a work email, about eight people per company) at ``--small`` and
``--large`` rows, plus one of about ``--megabytes`` MB, in a temporary directory. Each
measurement runs in its own process, timed from start to exit, with its peak resident memory
(``ru_maxrss`` of that process):

(a) reading every row with ``enrichment.csvio.iter_csv`` (row by row) and, for contrast,
    ``read_csv`` (the whole table in memory);
(b) ``manage.py enrich IN.csv -o OUT.csv --offline`` end to end on a throwaway PostgreSQL
    database (skipped with ``--no-enrich``).

Printed: seconds (for reading, inside the process; for enrich, the whole process), rows/s and
peak memory per run, and the ratios large/small of time per row
(1.0 is linear) and of peak memory (1.0 is constant).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
HEADERS = [
    "First Name", "Last Name", "Title", "Company", "Email", "Email Status", "Seniority",
    "Departments", "Mobile Phone", "# Employees", "Industry", "Person Linkedin Url", "Website",
    "City", "State", "Country", "Keywords",
]  # fmt: skip
FIRST = ["Ada", "Grace", "José", "Zoë", "Seán", "Björn", "Anaïs", "Kwame", "Mei", "Priya",
         "Oluwaseun", "Hedy", "Linus", "Ngozi", "Łukasz", "Chloé", "Mohammed", "Dagny"]  # fmt: skip
LAST = ["Lovelace", "Hopper", "García López", "van Rossum", "O'Neil", "Müller", "de la Cruz",
        "Mensah", "Nakamura", "Sharma", "Adebayo", "Lamarr", "Torvalds", "Okafor", "Wałęsa",
        "Dubois", "Al-Farsi", "Björnsdóttir"]  # fmt: skip
TITLES = ["Head of Engineering", "VP Sales", "Chief Executive Officer", "Marketing Manager",
          "Software Engineer", "Director of Operations", "CFO", "Account Executive"]  # fmt: skip


def write_leads(path: Path, rows: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    companies = max(1, rows // 8)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        for n in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = f"company{int(companies * rng.random() ** 1.5)}"
            domain = f"{company}.example"
            local = "".join(c for c in (first[0] + last).lower() if c.isascii() and c.isalpha())
            has_email = rng.random() < 0.4
            writer.writerow(
                [
                    first,
                    last,
                    rng.choice(TITLES),
                    company.title(),
                    f"{local}@{domain}" if has_email else "",
                    "Verified" if has_email else "",
                    rng.choice(["Senior", "Director", "VP", "C suite", "Entry"]),
                    rng.choice(["Engineering", "Sales", "Marketing", "Finance"]),
                    f"+1 555 {rng.randrange(1000, 9999)} {rng.randrange(100, 999)}",
                    str(rng.randrange(10, 5000)),
                    rng.choice(["Software", "Retail", "Manufacturing"]),
                    f"https://www.linkedin.com/in/{local}-{n}",
                    f"https://www.{domain}",
                    rng.choice(["Paris", "Lagos", "Osaka", "Austin", "Kraków"]),
                    "",
                    rng.choice(["France", "Nigeria", "Japan", "United States", "Poland"]),
                    "saas, b2b, " + rng.choice(["cloud", "payments", "logistics"]),
                ]
            )


def _child_read(path: str, whole: bool) -> None:
    from enrichment.csvio import iter_csv, read_csv

    started = time.perf_counter()
    if whole:
        count = len(read_csv(path).rows)
    else:
        with iter_csv(path) as reader:
            count = sum(1 for _ in reader)
    print(json.dumps({"rows": count, "seconds": time.perf_counter() - started}))


def _measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Seconds and peak resident MB of one process, and its standard output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak, not its siblings'
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{' '.join(argv)} failed: {err.read().decode()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def _row(label: str, rows: int, seconds: float, peak: float) -> None:
    print(f"{label:<34}{rows:>9,}{seconds:>9.2f}{rows / seconds:>11,.0f}{peak:>10.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=5_000)
    parser.add_argument("--large", type=int, default=50_000)
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--no-enrich", action="store_true", help="measure reading only")
    parser.add_argument("--child-read", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_read:
        _child_read(args.child_read[0], whole=args.child_read[1] == "whole")
        return

    with tempfile.TemporaryDirectory(prefix="bench-csv-") as tmp:
        _run(args, Path(tmp))


def _run(args, tmp: Path) -> None:
    files = {}
    for rows in (args.small, args.large):
        files[rows] = tmp / f"leads-{rows}.csv"
        write_leads(files[rows], rows)
    per_mb = files[args.large].stat().st_size / args.large / 1e6
    big_rows = int(args.megabytes / per_mb)
    files[big_rows] = tmp / f"leads-{big_rows}.csv"
    write_leads(files[big_rows], big_rows)
    print("files: " + ", ".join(f"{n:,} rows {p.stat().st_size / 1e6:.1f} MB"
                                             for n, p in files.items()))  # fmt: skip
    print(f"\n{'run':<34}{'rows':>9}{'s':>9}{'rows/s':>11}{'peak MB':>10}")

    me = [sys.executable, str(Path(__file__).resolve())]
    results: dict[tuple[str, int], tuple[float, float]] = {}
    for mode in ("stream", "whole"):
        for rows in sorted(files):
            # Reading time inside the process: start-up would hide the small file's per-row cost.
            _, peak, out = _measure([*me, "--child-read", str(files[rows]), mode])
            seconds = json.loads(out)["seconds"]
            results[(mode, rows)] = (seconds, peak)
            label = "iter_csv (row by row)" if mode == "stream" else "read_csv (whole table)"
            _row(label, rows, seconds, peak)

    if not args.no_enrich:
        _enrich(args, files, results, tmp)

    print()
    small, large = args.small, args.large
    for mode, label in (("stream", "iter_csv"), ("whole", "read_csv"), ("enrich", "enrich")):
        if (mode, small) not in results:
            continue
        (s_t, s_m), (l_t, l_m) = results[(mode, small)], results[(mode, large)]
        print(
            f"{label}: time per row {large:,} / {small:,} = {(l_t / large) / (s_t / small):.2f}; "
            f"peak memory {l_m / s_m:.2f}x"
        )


def _enrich(args, files, results, tmp: Path) -> None:
    import psycopg
    from cryptography.fernet import Fernet

    db_name = f"bench_csv_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "ENV_FILE": "",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}",
        "REDIS_URL": REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "ENRICH_OFFLINE": "true",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        for rows in (args.small, args.large):
            out = tmp / f"out-{rows}.csv"
            argv = [*manage, "enrich", str(files[rows]), "-o", str(out), "--offline"]
            seconds, peak, _ = _measure(argv, env)
            results[("enrich", rows)] = (seconds, peak)
            _row("manage.py enrich --offline", rows, seconds, peak)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
