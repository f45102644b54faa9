"""CSV import and export for batch enrichment: reading any reasonable file row by row,
mapping its columns to canonical fields, and writing results that keep every input column."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from enrichment.fields import CANONICAL_FIELDS, HEADER_ALIASES

MAX_FIELD_SIZE = 1 << 20  # a 1 MiB cell is already pathological; more is an attack


class CsvError(ValueError):
    """The file cannot be read as a CSV table (the message says why, in one line)."""


class NotTextCsv(CsvError):
    """The file is binary (an image, an archive, a spreadsheet), not a CSV export."""


# C0 controls but tab, line feed and carriage return (the CSV's own), and DEL: nothing a lead's
# value needs, and NUL is refused by PostgreSQL text and jsonb columns.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control_characters(text: str) -> str:
    return _CONTROL_CHARACTERS.sub("", text)


def normalise_header(header: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", header.lower()).split())


def _compact(normal: str) -> str:
    # Scrapers write camelCase ("profileUrl", "linkedInProfileUrl"): compared without the
    # spaces, "profile url" and "profileurl" are one header.
    return normal.replace(" ", "")


def infer_mapping(headers: Sequence[str]) -> dict[str, str]:
    """Map canonical fields to the headers that hold them: ``{canonical_field: header}``.

    Within a field the first alias present wins (the canonical name first unless the aliases
    rank it); each header is used once, fields taken in order, so "Company" is not also
    the domain.
    """
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(_compact(normalise_header(header)), header)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for field in CANONICAL_FIELDS:
        aliases = HEADER_ALIASES.get(field, ())
        own = normalise_header(field)
        candidates = aliases if own in aliases else (own, *aliases)
        for alias in candidates:
            header = by_key.get(_compact(alias))
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


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be used, and why; the rest of the file is read on."""

    line_no: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.reason}"


@dataclass
class CsvTable:
    headers: list[str]
    rows: list[dict[str, str]]
    dialect_delimiter: str
    encoding: str
    #: Unusable rows, when read with ``lenient=True`` (otherwise the first one is an error).
    problems: list[RowProblem] = dataclasses.field(default_factory=list)


SAMPLE_SIZE = 64 * 1024
SNIFF_SIZE = 16 * 1024
_FALLBACK_ERRORS = "leadforge-cp1252-fallback"


def _decode_byte_by_byte(exc: UnicodeError) -> tuple[str, int]:
    # A file that looked like UTF-8 in its sample may still hold a Windows-1252 byte further
    # on (a hand-edited export): that byte is read as Windows-1252 (Latin-1 where 1252 has
    # no character) instead of stopping the import.
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    text = "".join(bytes([b]).decode("latin-1" if b in _CP1252_HOLES else "cp1252") for b in bad)
    return text, exc.end


_CP1252_HOLES = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})
codecs.register_error(_FALLBACK_ERRORS, _decode_byte_by_byte)

# The first bytes of file types people pick by mistake instead of a CSV export.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx or .docx is one: export it as CSV)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office document (.xls: export it as CSV)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
)
_BINARY_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}


def _refuse_binary(sample: bytes) -> None:
    for signature, kind in _SIGNATURES:
        if sample.startswith(signature):
            raise NotTextCsv(f"not a text CSV: the file is {kind}")
    if not sample:
        return
    # Text has almost no control bytes (a stray NUL is stripped later); compressed or
    # binary data has about one in nine.
    share = sum(1 for b in sample if b in _BINARY_BYTES) / len(sample)
    if share > 0.3 or (share > 0.08 and len(sample) >= 1024):
        raise NotTextCsv(f"not a text CSV: {share:.0%} of the first bytes are binary")


def _choose_encoding(sample: bytes, complete: bool) -> str:
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # Excel's "Unicode text" export
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        try:
            sample.decode("cp1252")
        except UnicodeDecodeError:
            return "latin-1"
        return "cp1252"
    return "utf-8-sig" if sample.startswith(codecs.BOM_UTF8) else "utf-8"


class _Replay(io.RawIOBase):
    """The bytes already read for the sample, then the rest of the source."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class CsvReader:
    """A CSV file read row by row: ``headers``, ``encoding`` and ``delimiter`` are known
    before the rows. Iterating yields each row as ``{header: value}`` (short rows padded,
    blank lines skipped) or a :class:`RowProblem` for a row that cannot be used."""

    def __init__(self, source: BinaryIO, *, close: bool) -> None:
        self._source, self._close = source, close
        try:
            head = source.read(SAMPLE_SIZE)
        except OSError as exc:
            raise CsvError(f"cannot read the file: {exc.strerror or exc}") from None
        self.encoding = _choose_encoding(head, complete=len(head) < SAMPLE_SIZE)
        if self.encoding != "utf-16":  # half of UTF-16's bytes are NUL for Latin text
            _refuse_binary(head)
        sample = strip_control_characters(head.decode(self.encoding, errors=_FALLBACK_ERRORS))
        if not sample.strip():
            raise CsvError("the file is empty")
        # The sniffer's time grows with its text: the first lines (whole ones) are enough.
        sniffed = sample[:SNIFF_SIZE]
        if len(sniffed) < len(sample):
            sniffed = sniffed[: sniffed.rfind("\n") + 1] or sniffed
        try:
            self.delimiter = csv.Sniffer().sniff(sniffed, delimiters=",;\t|").delimiter
        except csv.Error:
            self.delimiter = ","
        text = io.TextIOWrapper(
            io.BufferedReader(_Replay(head, source)),
            encoding=self.encoding,
            errors=_FALLBACK_ERRORS,
            newline="",
        )
        csv.field_size_limit(MAX_FIELD_SIZE)
        self._reader = csv.reader(
            (strip_control_characters(line) for line in text), delimiter=self.delimiter
        )
        try:
            self.headers = [h.strip() for h in next(self._reader)]
        except (StopIteration, csv.Error) as exc:
            raise CsvError(f"cannot read the header row: {exc}") from None
        if not any(self.headers):
            raise CsvError("the header row is empty")
        # Counted once: headers.count() per header is quadratic, hours for a million columns.
        duplicates = {h for h, n in Counter(self.headers).items() if h and n > 1}
        if duplicates:
            raise CsvError(f"duplicate column names: {', '.join(sorted(duplicates))}")

    def __enter__(self) -> CsvReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._close:
            self._source.close()

    def __iter__(self) -> Iterator[dict[str, str] | RowProblem]:
        headers, width, reader = self.headers, len(self.headers), self._reader
        line_no = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield RowProblem(line_no, str(exc))
                line_no = reader.line_num + 1
                continue
            start, line_no = line_no, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) > width:
                if any(v.strip() for v in values[width:]):
                    yield RowProblem(start, f"{len(values)} values for {width} columns")
                    continue
                values = values[:width]  # trailing empty cells: a spreadsheet's extra commas
            elif len(values) < width:
                values = values + [""] * (width - len(values))
            yield dict(zip(headers, values, strict=True))
        self.close()


def iter_csv(source: str | Path | BinaryIO) -> CsvReader:
    """Open a CSV (a path, or a binary file object) for reading row by row, in constant memory.

    The encoding (UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252) and the
    delimiter are chosen on the first 64 KiB. Raises :class:`CsvError` for a file that is
    not a text CSV, is empty, or has no usable header row.
    """
    if isinstance(source, str | Path):
        try:
            handle = open(source, "rb")  # noqa: SIM115 - the reader closes it
        except OSError as exc:
            raise CsvError(f"cannot read {source}: {exc.strerror}") from None
        try:
            return CsvReader(handle, close=True)
        except BaseException:
            handle.close()
            raise
    return CsvReader(source, close=False)


def read_csv(path: str | Path, *, lenient: bool = False) -> CsvTable:
    """Read a whole CSV file into memory (see :func:`iter_csv` for large files). An unusable
    row is an error, or with ``lenient`` one of the table's ``problems``."""
    with iter_csv(path) as reader:
        return _table(reader, lenient)


def parse_csv(raw: bytes, *, lenient: bool = False) -> CsvTable:
    """Parse a CSV file's bytes; control characters (NUL and the like) are dropped."""
    with iter_csv(io.BytesIO(raw)) as reader:
        return _table(reader, lenient)


def _table(reader: CsvReader, lenient: bool) -> CsvTable:
    table = CsvTable(
        headers=reader.headers,
        rows=[],
        dialect_delimiter=reader.delimiter,
        encoding=reader.encoding,
    )
    for record in reader:
        if isinstance(record, RowProblem):
            if not lenient:
                raise CsvError(str(record))
            table.problems.append(record)
        else:
            table.rows.append(record)
    return table
