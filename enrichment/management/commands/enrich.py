"""`manage.py enrich IN.csv -o OUT.csv`: batch enrichment from the shell."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from budgets.models import Project
from enrichment import services
from enrichment.batch import read_leads, run_email_step
from enrichment.csvio import CsvError, infer_mapping, parse_mapping_override, read_csv, write_csv
from enrichment.emails.mx import DNS_UNAVAILABLE_NOTICE, MxResolver
from enrichment.fields import CANONICAL_FIELDS, EMAIL_RESULT_FIELDS
from enrichment.waterfall import load_steps, run_provider_step

ALWAYS_ADDED = ("first_name", "last_name", "domain", "email")


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
            "--no-save", action="store_true", help="do not store the job and contacts for review"
        )

    def handle(self, *args, **opts):
        try:
            table = read_csv(opts["input"])
            mapping = infer_mapping(table.headers)
            mapping.update(parse_mapping_override(opts["map"], table.headers))
        except CsvError as exc:
            raise CommandError(f"{opts['input']}: {exc}") from None
        if opts["show_mapping"]:
            self.stdout.write(json.dumps(mapping, indent=2))
            return
        if not opts["output"]:
            raise CommandError("-o/--output is required (or use --show-mapping)")
        fields = [f.strip() for f in opts["fields"].split(",") if f.strip()] or ["email"]
        unknown = [f for f in fields if f not in CANONICAL_FIELDS]
        if unknown:
            raise CommandError(f"unknown field(s): {', '.join(unknown)}")
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

        try:
            steps_providers = [step.provider for step in load_steps(providers)]
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        leads = read_leads(table.rows, mapping)
        services.mark_suppressed(leads)
        resolver = MxResolver(offline=True) if opts["offline"] else MxResolver()
        if resolver.dns_blind():
            self.stderr.write(DNS_UNAVAILABLE_NOTICE)
        with tqdm(
            total=len(leads), unit="row", desc="emails", disable=None, file=self.stderr._out
        ) as bar:
            run_email_step(
                [lead for lead in leads if not lead.result],
                learn=lambda domains, known: services.domain_patterns_learn(
                    domains=domains,
                    extra=[
                        *known,
                        *services.known_emails_from_providers(
                            domains=domains, providers=steps_providers
                        ),
                    ],
                ),
                resolver=resolver,
                smtp=opts["smtp"] and not opts["offline"],
                progress=bar.update,
            )
        if providers:
            try:
                run_provider_step(
                    leads,
                    mapping=mapping,
                    fields=fields,
                    providers=providers,
                    min_confidence=opts["min_confidence"],
                    stderr=self.stderr._out,
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from None

        headers = _output_headers(table.headers, mapping, fields)
        write_csv(opts["output"], headers, (_output_row(lead, mapping) for lead in leads))
        if not opts["no_save"]:
            job = services.job_create_bulk(
                rows=table.rows,
                mapping=mapping,
                name=Path(opts["input"]).name,
                options={
                    "fields": fields,
                    "providers": providers,
                    "smtp": opts["smtp"],
                    "offline": opts["offline"],
                    "via": "command",
                },
                project=project,
            )
            services.job_store_results(job=job, leads=leads)
            self.stderr.write(f"saved as job {job.pk}; contacts await review at /")
        counts: dict[str, int] = {}
        for lead in leads:
            status = lead.result.get("email_status") or "not found"
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self.stdout.write(f"wrote {len(leads)} rows to {opts['output']}: {summary}")


def _output_headers(headers: list[str], mapping: dict[str, str], fields: list[str]) -> list[str]:
    extra = [
        f
        for f in CANONICAL_FIELDS
        if (f in ALWAYS_ADDED or f in fields or f in mapping) and f not in headers
    ]
    return [*headers, *extra, *(f for f in EMAIL_RESULT_FIELDS if f not in headers)]


def _output_row(lead, mapping: dict[str, str]) -> dict:
    row = dict(lead.row)
    for field, header in mapping.items():
        row.setdefault(field, lead.row.get(header, ""))
    if lead.parsed is not None:
        row.setdefault("first_name", lead.parsed.first)
        row.setdefault("last_name", lead.parsed.last)
    if lead.domain and "domain" not in lead.row:  # an input column named domain stays as given
        row["domain"] = lead.domain
    for key, value in lead.result.items():
        if key in EMAIL_RESULT_FIELDS or key in CANONICAL_FIELDS:
            row[key] = value
    return row
