"""`manage.py verify_emails IN.csv -o OUT.csv [--smtp]`: bulk verification of an email column."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from enrichment import exports
from enrichment.csvio import CsvError, infer_mapping, read_csv
from enrichment.emails.mx import DNS_UNAVAILABLE_NOTICE, MxResolver
from enrichment.emails.verify import verify_emails

RESULT_COLUMNS = (
    "email",
    "status",
    "score",
    "mx_host",
    "catch_all",
    "disposable",
    "role",
    "free_mail",
    "reason",
)


def _flag(value: bool | None) -> str:
    return "" if value is None else "true" if value else "false"


class Command(BaseCommand):
    help = (
        "Verify the addresses in a CSV's email column: status (verified/unknown/risky/invalid), "
        "score 0-100, MX host, catch-all, disposable, role and free-mail flags, and the reason."
    )
    # Verification reads no models and serves no URLs: the system checks (URL conf, admin,
    # API schema) would add a quarter of a second to every run and check nothing it uses.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("input", help="CSV with an email column")
        parser.add_argument("-o", "--output", required=True, help="where to write the results")
        parser.add_argument(
            "--smtp",
            action="store_true",
            help="also probe mailboxes over SMTP (needs outbound port 25)",
        )
        parser.add_argument("--column", help="name of the email column (default: inferred)")
        parser.add_argument(
            "--keep-columns",
            action="store_true",
            help="copy the input's other columns to the output too",
        )

    def handle(
        self,
        *args,
        input: str,
        output: str,
        smtp: bool,
        column: str | None,
        keep_columns: bool,
        **options,
    ):
        try:
            table = read_csv(input, lenient=True)
        except CsvError as exc:
            raise CommandError(f"{input}: {exc}") from None
        for problem in table.problems:
            self.stderr.write(f"{input}: skipped {problem}")
        column = column or infer_mapping(table.headers).get("email")
        if not column or column not in table.headers:
            raise CommandError(f"{input}: no email column (headers: {', '.join(table.headers)})")
        smtp = smtp or settings.ENRICH_SMTP_PROBE
        emails = [row[column].strip() for row in table.rows]
        resolver = MxResolver()
        if resolver.dns_blind():
            self.stderr.write(DNS_UNAVAILABLE_NOTICE)
        with tqdm(total=len(emails), unit="email", disable=None, file=self.stderr._out) as bar:
            results = list(
                verify_emails(
                    emails,
                    smtp=smtp,
                    resolver=resolver,
                    progress=lambda done, total: bar.update(done - bar.n),
                )
            )
        extra = [h for h in table.headers if h != column] if keep_columns else []
        counts: dict[str, int] = {}

        def rows():
            for row, result in zip(table.rows, results, strict=True):
                counts[result.status] = counts.get(result.status, 0) + 1
                yield {
                    **{h: row[h] for h in extra},
                    "email": row[column],
                    "status": result.status,
                    "score": result.score,
                    "mx_host": result.mx_host or "",
                    "catch_all": _flag(result.catch_all),
                    "disposable": _flag(result.disposable),
                    "role": _flag(result.role),
                    "free_mail": _flag(result.free_mail),
                    "reason": result.reason,
                }

        with open(output, "w", newline="", encoding="utf-8") as fh:
            exports.write_csv(fh, [*extra, *RESULT_COLUMNS], rows())
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self.stdout.write(f"verified {len(results)} addresses into {output}: {summary}")
