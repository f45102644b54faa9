"""A job's results as CSV: the columns, one row per item, and cells safe to open in a
spreadsheet. The ``enrich`` command and the job page's download both write through here."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO

from enrichment.fields import CANONICAL_FIELDS, EMAIL_RESULT_FIELDS
from enrichment.models import EnrichmentJob, JobItem

#: Canonical fields every export has, whatever the job asked for.
ALWAYS_ADDED = ("first_name", "last_name", "domain", "email")
#: Columns about the item itself, offered besides the data (the error report starts with them).
ITEM_COLUMNS = ("row_number", "item_status", "item_error")

# Numbers and phone numbers ("+1 555 0100", "-12.5") start with + or - but are not formulas.
_PLAIN_VALUE = re.compile(r"[+-]?[\d\s().-]*\d[\d\s().-]*")


def neutralise_cell(value: Any) -> str:
    """``value`` as a cell a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    text = str(value)
    # A cell starting with = + - @ runs as a formula in Excel/Sheets (CSV injection), and so
    # does one where tabs, carriage returns or spaces come before that character.
    head = text.lstrip("\t\r\n ")
    if head[:1] in ("=", "+", "-", "@") and not _PLAIN_VALUE.fullmatch(head):
        return "'" + text
    return text


def output_headers(
    headers: Sequence[str], mapping: Mapping[str, str], fields: Sequence[str]
) -> list[str]:
    """Every input column, then the canonical fields asked for or mapped, then the email
    result columns; a name the input already has is not repeated."""
    extra = [
        f
        for f in CANONICAL_FIELDS
        if (f in ALWAYS_ADDED or f in fields or f in mapping) and f not in headers
    ]
    return [*headers, *extra, *(f for f in EMAIL_RESULT_FIELDS if f not in headers)]


def output_row(item: JobItem, mapping: Mapping[str, str]) -> dict[str, Any]:
    """The item's input row with what was found; the reason stands in ``email_reason`` when
    nothing else says why."""
    row = dict(item.input)
    output = item.output or {}
    for field, header in mapping.items():
        row.setdefault(field, item.input.get(header, ""))
    for key, value in output.items():
        if key == "domain" and "domain" in item.input:
            continue  # an input column named domain stays as given
        if key in EMAIL_RESULT_FIELDS or key in CANONICAL_FIELDS:
            row[key] = value
    if not output.get("email_reason") and item.error:
        row["email_reason"] = item.error
    for name, value in (
        ("row_number", item.index + 1),
        ("item_status", item.status),
        ("item_error", item.error),
    ):
        row.setdefault(name, value)
    return row


def job_columns(job: EnrichmentJob) -> list[str]:
    """The job's default export columns."""
    options = job.options or {}
    headers = list(options.get("headers") or [])
    if not headers:
        # A job created without its header list: the columns its rows have, in order.
        first = job.items.order_by("index").values_list("input", flat=True).first() or {}
        headers = list(first)
    return output_headers(headers, options.get("mapping") or {}, options.get("fields") or ())


def job_available_columns(job: EnrichmentJob) -> list[str]:
    """Every column an export of the job may have: the defaults and the item columns."""
    columns = job_columns(job)
    return [*columns, *(c for c in ITEM_COLUMNS if c not in columns)]


def choose_columns(available: Sequence[str], chosen: Iterable[str]) -> list[str]:
    """``chosen`` in its order, each once; raises ``ValueError`` naming unknown columns."""
    picked = list(dict.fromkeys(c for c in chosen if c))
    unknown = [c for c in picked if c not in available]
    if unknown:
        raise ValueError(f"unknown column(s): {', '.join(unknown)}")
    if not picked:
        raise ValueError("no columns chosen")
    return picked


def csv_records(headers: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[list[str]]:
    """The header row and then each row, every cell neutralised (headers come from the
    input file too)."""
    yield [neutralise_cell(h) for h in headers]
    for row in rows:
        yield [neutralise_cell(row.get(h)) for h in headers]


def write_csv(fh: TextIO, headers: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write the rows to an open text file; returns how many rows were written."""
    records = csv_records(headers, rows)
    writer = csv.writer(fh)
    writer.writerow(next(records))
    count = 0
    for record in records:
        writer.writerow(record)
        count += 1
    return count


class _Line:
    """A file-like object whose ``write`` hands back the line, for streaming."""

    def write(self, value: str) -> str:
        return value


def stream_csv(headers: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The CSV text line by line, for a streamed response."""
    writer = csv.writer(_Line())
    for record in csv_records(headers, rows):
        yield writer.writerow(record)


def job_rows(job: EnrichmentJob, *, statuses: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """The job's items as export rows, in input order, read in batches."""
    mapping = (job.options or {}).get("mapping") or {}
    items = job.items.order_by("index").only("index", "input", "output", "status", "error")
    if statuses:
        items = items.filter(status__in=statuses)
    for item in items.iterator(chunk_size=500):
        yield output_row(item, mapping)
