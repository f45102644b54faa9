"""`manage.py record_bounces FILE`: feed hard bounces back into verification and learning."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from enrichment import services
from enrichment.csvio import (
    CsvError,
    NotTextCsv,
    infer_mapping,
    parse_csv,
    strip_control_characters,
)


class Command(BaseCommand):
    help = (
        "Mark bounced addresses invalid and lower the evidence for their pattern at their "
        "domain. FILE is a CSV with an email column (and optionally a reason column), or a "
        "plain list with one address per line."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file: str, **options):
        try:
            raw = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            entries = _entries(raw, warn=lambda text: self.stderr.write(f"{file}: {text}"))
        except CsvError as exc:
            raise CommandError(f"{file}: {exc}") from None
        if entries is None:
            raise CommandError(f"{file}: no email column and not a list of addresses")
        marked = unknown = 0
        for email, reason in entries:
            if "@" not in email:
                self.stderr.write(f"skipped {email!r}: not an email address")
                continue
            outcome = services.email_record_bounce(email=email, reason=reason)
            if outcome.addresses_marked:
                marked += outcome.addresses_marked
            else:
                unknown += 1
        self.stdout.write(f"marked {marked} stored address(es) invalid; {unknown} not stored")


def _entries(raw: bytes, *, warn: Callable[[str], None]) -> list[tuple[str, str]] | None:
    """The (address, reason) pairs of a bounce file; None when it has no email column.
    Raises ``CsvError`` for a file that is not text at all."""
    text = strip_control_characters(raw.decode("utf-8-sig", errors="replace"))
    first = text.lstrip().split("\n", 1)[0]
    if "@" in first and "," not in first:
        return [(line.strip(), "") for line in text.splitlines() if line.strip()]
    try:
        table = parse_csv(raw, lenient=True)
    except NotTextCsv:
        raise
    except CsvError:
        return None
    for problem in table.problems:
        warn(f"skipped {problem}")
    column = infer_mapping(table.headers).get("email")
    if column is None:
        return None
    reason_column = next(
        (h for h in table.headers if h.lower() in {"reason", "error", "diagnostic"}), None
    )
    return [
        (row[column].strip(), row.get(reason_column, "") if reason_column else "")
        for row in table.rows
        if row[column].strip()
    ]
