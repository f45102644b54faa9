"""CSV import and export for batch enrichment: reading any reasonable file, mapping its
columns to canonical fields, and writing results that keep every input column."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from enrichment.fields import CANONICAL_FIELDS, HEADER_ALIASES

MAX_FIELD_SIZE = 1 << 20  # a 1 MiB cell is already pathological; more is an attack


class CsvError(ValueError):
    """The file cannot be read as a CSV table (the message says why, in one line)."""


# C0 controls but tab, line feed and carriage return (the CSV's own), and DEL: nothing a lead's
# value needs, and NUL is refused by PostgreSQL text and jsonb columns.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control_characters(text: str) -> str:
    return _CONTROL_CHARACTERS.sub("", text)


def normalise_header(header: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", header.lower()).split())


def infer_mapping(headers: Sequence[str]) -> dict[str, str]:
    """Map canonical fields to the headers that hold them: ``{canonical_field: header}``.

    Exact alias matches win over canonical names written with other separators; each header
    is used once, in the order of the aliases' fields, so "Company" is not also the domain.
    """
    by_normal: dict[str, str] = {}
    for header in headers:
        by_normal.setdefault(normalise_header(header), header)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for field in CANONICAL_FIELDS:
        candidates = (normalise_header(field), *HEADER_ALIASES.get(field, ()))
        for alias in candidates:
            header = by_normal.get(alias)
            if header is not None and header not in used:
                mapping[field] = header
                used.add(header)
                break
    return mapping


def parse_mapping_override(spec: str, headers: Sequence[str]) -> dict[str, str]:
    """Parse ``field=Header,field2=Header 2`` given on the command line."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        field, sep, header = part.partition("=")
        field, header = field.strip(), header.strip()
        if not sep or field not in CANONICAL_FIELDS:
            raise CsvError(f"bad mapping {part!r}: expected canonical_field=Header")
        if header not in headers:
            raise CsvError(f"mapping {part!r}: no column named {header!r}")
        mapping[field] = header
    return mapping


@dataclass
class CsvTable:
    headers: list[str]
    rows: list[dict[str, str]]
    dialect_delimiter: str
    encoding: str


def _decode(raw: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise CsvError("cannot decode the file as UTF-8 or Latin-1")  # pragma: no cover


def read_csv(path: str | Path) -> CsvTable:
    """Read a whole CSV file (UTF-8 with or without BOM, else Windows-1252), sniffing
    the delimiter. Rows shorter than the header are padded; longer ones are an error."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CsvError(f"cannot read {path}: {exc.strerror}") from None
    return parse_csv(raw)


def parse_csv(raw: bytes) -> CsvTable:
    """Parse a CSV file's bytes; control characters (NUL and the like) are dropped."""
    text, encoding = _decode(raw)
    text = strip_control_characters(text)
    if not text.strip():
        raise CsvError("the file is empty")
    sample = text[: 64 * 1024]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    csv.field_size_limit(MAX_FIELD_SIZE)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise CsvError(f"cannot read the header row: {exc}") from None
    if not any(headers):
        raise CsvError("the header row is empty")
    # Counted once: headers.count() per header is quadratic, hours for a million columns.
    duplicates = {h for h, n in Counter(headers).items() if h and n > 1}
    if duplicates:
        raise CsvError(f"duplicate column names: {', '.join(sorted(duplicates))}")
    rows: list[dict[str, str]] = []
    try:
        for line_no, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) > len(headers):
                raise CsvError(f"line {line_no}: {len(values)} values for {len(headers)} columns")
            values = values + [""] * (len(headers) - len(values))
            rows.append(dict(zip(headers, values, strict=True)))
    except csv.Error as exc:
        raise CsvError(f"line {reader.line_num}: {exc}") from None
    return CsvTable(headers=headers, rows=rows, dialect_delimiter=delimiter, encoding=encoding)


def write_csv(path: str | Path, headers: Sequence[str], rows: Iterator[dict] | list[dict]) -> int:
    """Write rows as UTF-8 CSV; values are neutralised against spreadsheet formula injection."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(headers), extrasaction="ignore")
        # Header cells come from the input file too: neutralised like values.
        csv.writer(fh).writerow([_safe_cell(h) for h in headers])
        for row in rows:
            writer.writerow({k: _safe_cell(v) for k, v in row.items()})
            count += 1
    return count


# Numbers and phone numbers ("+1 555 0100", "-12.5") start with + or - but are not formulas.
_PLAIN_VALUE = re.compile(r"[+-]?[\d\s().-]*\d[\d\s().-]*")


def _safe_cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    # A cell starting with = + - @ runs as a formula in Excel/Sheets (CSV injection), and so
    # does one where tabs, carriage returns or spaces come before that character.
    head = text.lstrip("\t\r\n ")
    if head[:1] in ("=", "+", "-", "@") and not _PLAIN_VALUE.fullmatch(head):
        return "'" + text
    return text
