"""`manage.py enrich IN.csv -o OUT.csv`: batch enrichment from the shell, as a job.

The job is created first (the same engine as the browser, the API and beat, enrichment.jobs),
processed here by a few threads or, with ``--queue``, by the Celery workers while this waits,
and the output is written from the results stored on its items."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from budgets.models import Project
from enrichment import exports, jobs, tasks
from enrichment.csvio import CsvError, infer_mapping, iter_csv, parse_mapping_override
from enrichment.emails.mx import DNS_UNAVAILABLE_NOTICE, MxResolver
from enrichment.models import JobEventKind, JobStatus


class Command(BaseCommand):
    help = (
        "Enrich a CSV of leads: keeps every input column, adds canonical fields plus "
        "email_status, email_confidence and email_source. Rows with an email teach each "
        "domain's pattern and are verified; rows without one get the best guess."
    )

    def add_arguments(self, parser):
        parser.add_argument("input", help="CSV file with a header row")
        parser.add_argument("-o", "--output", help="where to write the enriched CSV")
        parser.add_argument(
            "--providers", default="", help="comma-separated provider slugs to ask, in order"
        )
        parser.add_argument(
            "--fields", default="", help="comma-separated canonical fields to fill (default: email)"
        )
        parser.add_argument(
            "--min-confidence",
            type=int,
            default=80,
            help="a provider's answer counts from this confidence (0-100)",
        )
        parser.add_argument(
            "--offline",
            action="store_true",
            help="no network at all: no DNS, SMTP or provider calls",
        )
        parser.add_argument(
            "--smtp",
            action="store_true",
            help="probe candidates over SMTP (needs outbound port 25)",
        )
        parser.add_argument(
            "--show-mapping",
            action="store_true",
            help="print the inferred column mapping as JSON and exit",
        )
        parser.add_argument(
            "--map", default="", help="override the mapping: field=Header,field2=Header 2"
        )
        parser.add_argument("--project", help="project slug to file the job and contacts under")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="hand the job to the Celery workers and wait for it (default: work here)",
        )
        parser.add_argument(
            "--threads", type=int, default=4, help="workers in this process (without --queue)"
        )
        parser.add_argument(
            "--order",
            choices=["fixed", "ranked"],
            default="fixed",
            help="ask providers in the given order, or ranked by their record "
            "(found rate, cost per find, latency)",
        )
        parser.add_argument(
            "--max-providers", type=int, help="ask at most this many providers about one lead"
        )
        parser.add_argument(
            "--cost-cap", type=_money, help="the job pauses before its cost would pass this"
        )
        parser.add_argument(
            "--lead-cost-cap", type=_money, help="no lead is asked about past this cost"
        )
        parser.add_argument(
            "--webhook",
            default="",
            help="POST a signed summary to this URL when the job ends (ENRICH_WEBHOOK_SECRET)",
        )

    def handle(self, *args, **opts):
        # The file is read row by row while the job's items are written: a large file never
        # sits in memory whole.
        try:
            reader = iter_csv(opts["input"])
        except CsvError as exc:
            raise CommandError(f"{opts['input']}: {exc}") from None
        with reader:
            try:
                mapping = infer_mapping(reader.headers)
                mapping.update(parse_mapping_override(opts["map"], reader.headers))
            except CsvError as exc:
                raise CommandError(f"{opts['input']}: {exc}") from None
            if opts["show_mapping"]:
                self.stdout.write(json.dumps(mapping, indent=2))
                return
            job = self._create_job(reader, mapping, opts)
        fields = job.options["fields"]
        if job.processed_items:  # before any work, only the unusable rows are done
            # job_create logged them in one line: the same line here.
            logged = job.events.filter(kind=JobEventKind.ERROR).values_list("message", flat=True)
            self.stderr.write(f"{logged.first()} (reasons in the output's email_reason column)")
        self.stderr.write(f"job {job.pk}: {job.total_items} rows")
        with tqdm(
            total=job.total_items, unit="row", desc="enrich", disable=None, file=self.stderr._out
        ) as bar:
            if opts["queue"]:
                tasks.job_enqueue(job.pk)
                job = _wait(job, bar)
            else:
                job = _work_here(job, bar, threads=max(1, opts["threads"]))
        if job.status == JobStatus.PAUSED:
            raise CommandError(f"job {job.pk} paused: {job.error_message}")
        items = job.items.order_by("index").only("index", "input", "output", "status", "error")
        counts: Counter[str] = Counter()

        def rows():
            # One pass over the items: the summary is counted as the file is written.
            for item in items.iterator():
                counts[(item.output or {}).get("email_status") or "not found"] += 1
                yield exports.output_row(item, mapping)

        headers = exports.output_headers(reader.headers, mapping, fields)
        with open(opts["output"], "w", newline="", encoding="utf-8") as fh:
            exports.write_csv(fh, headers, rows())
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self.stdout.write(f"wrote {job.total_items} rows to {opts['output']}: {summary}")
        self.stderr.write(f"saved as job {job.pk}; contacts await review at /")

    def _create_job(self, reader, mapping: dict[str, str], opts):
        """The job for the rows ``reader`` has yet to give, after checking the options."""
        if not opts["output"]:
            raise CommandError("-o/--output is required (or use --show-mapping)")
        _check_writable(opts["output"])
        fields = [f.strip() for f in opts["fields"].split(",") if f.strip()] or ["email"]
        providers = [p.strip() for p in opts["providers"].split(",") if p.strip()]
        if providers and opts["offline"]:
            raise CommandError("--providers and --offline exclude each other")
        project = None
        if opts["project"]:
            project = Project.objects.filter(slug=opts["project"]).first()
            if project is None:
                raise CommandError(f"no project {opts['project']!r}")
        if not {"full_name", "first_name", "last_name"} & mapping.keys():
            raise CommandError(
                "no name column found (first_name/last_name or full_name); "
                "see --show-mapping and --map"
            )
        if not opts["offline"] and MxResolver().dns_blind():
            self.stderr.write(DNS_UNAVAILABLE_NOTICE)
        try:
            return jobs.job_create(
                rows=reader,
                headers=reader.headers,
                mapping=mapping,
                name=Path(opts["input"]).name,
                fields=fields,
                providers=providers,
                min_confidence=opts["min_confidence"],
                smtp=opts["smtp"] and not opts["offline"],
                offline=opts["offline"],
                project=project,
                cost_cap=opts["cost_cap"],
                cost_cap_per_lead=opts["lead_cost_cap"],
                order=opts["order"],
                max_providers=opts["max_providers"],
                via="command",
                webhook_url=opts["webhook"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None


def _money(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except ArithmeticError:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}")
    return amount


def _check_writable(path: str) -> None:
    """Refuse an output path that cannot be written before any work is done."""
    target = Path(path)
    if target.is_dir():
        raise CommandError(f"{path}: is a directory")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise CommandError(f"{path}: no such directory {str(parent)!r}")
    if not os.access(target if target.exists() else parent, os.W_OK):
        raise CommandError(f"{path}: not writable")


def _work_here(job, bar, *, threads: int):
    """Process the job in this process, ``threads`` workers sharing its items."""
    lock = threading.Lock()

    def tick(_item) -> None:
        with lock:
            bar.update(1)

    def work() -> None:
        while True:
            outcome = jobs.job_work(job_id=job.pk, on_item=tick)
            if outcome.stopped or outcome.retry_in is None:
                return
            time.sleep(outcome.retry_in + 0.1)  # an item waits for its retry

    def helper() -> None:
        try:
            work()
        finally:
            connection.close()

    # This thread is one of the workers, on this command's own connection.
    helpers = [threading.Thread(target=helper, name=f"enrich-{n}") for n in range(threads - 1)]
    for thread in helpers:
        thread.start()
    work()
    for thread in helpers:
        thread.join()
    job.refresh_from_db()
    return job


def _wait(job, bar):
    """Follow a job the workers process until it is done or paused."""
    while True:
        job.refresh_from_db()
        bar.n = job.processed_items
        bar.refresh()
        if job.is_terminal or job.status == JobStatus.PAUSED:
            return job
        time.sleep(0.5)
