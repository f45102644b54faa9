import io

import pytest
from django.core.management import CommandError, call_command

from enrichment import exports
from enrichment.csvio import (
    MAX_FIELD_SIZE,
    CsvError,
    NotTextCsv,
    RowProblem,
    infer_mapping,
    iter_csv,
    parse_csv,
    parse_mapping_override,
)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["First Name", "Last Name", "Company", "Website"],
            {
                "first_name": "First Name",
                "last_name": "Last Name",
                "company_name": "Company",
                "domain": "Website",
            },
        ),
        (
            ["name", "Work Email", "Job Title", "LinkedIn URL"],
            {
                "full_name": "name",
                "email": "Work Email",
                "title": "Job Title",
                "linkedin_url": "LinkedIn URL",
            },
        ),
        (
            ["first_name", "surname", "company_domain", "E-mail"],
            {
                "first_name": "first_name",
                "last_name": "surname",
                "domain": "company_domain",
                "email": "E-mail",
            },
        ),
        (["Notes", "Owner"], {}),
    ],
)
def test_it_maps_common_headers_to_canonical_fields(headers, expected):
    assert infer_mapping(headers) == expected


def test_it_reads_utf8_with_bom_and_semicolons():
    raw = "\ufefffirst name;last name;domain\nJosé;García;acme.com\n".encode()
    table = parse_csv(raw)
    assert table.headers == ["first name", "last name", "domain"]
    assert table.rows == [{"first name": "José", "last name": "García", "domain": "acme.com"}]


def test_it_falls_back_to_windows_1252():
    table = parse_csv("name,domain\nRen\xe9 Dupont,acme.fr\n".encode("cp1252"))
    assert table.rows[0]["name"] == "René Dupont"


def test_it_pads_short_rows_and_skips_blank_lines():
    table = parse_csv(b"a,b,c\n1,2\n\n4,5,6\n")
    assert table.rows == [{"a": "1", "b": "2", "c": ""}, {"a": "4", "b": "5", "c": "6"}]


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"", "empty"), (b"a,a\n1,2\n", "duplicate column"), (b"a,b\n1,2,3\n", "line 2")],
)
def test_it_rejects_broken_files_with_a_reason(raw, message):
    with pytest.raises(CsvError, match=message):
        parse_csv(raw)


def test_mapping_overrides_are_checked():
    assert parse_mapping_override("email=Mail", ["Mail"]) == {"email": "Mail"}
    with pytest.raises(CsvError, match="no column"):
        parse_mapping_override("email=Nope", ["Mail"])
    with pytest.raises(CsvError, match="canonical_field"):
        parse_mapping_override("colour=Mail", ["Mail"])


def test_it_neutralises_formulas_on_export(tmp_path):
    out = tmp_path / "out.csv"
    with open(out, "w", newline="", encoding="utf-8") as fh:
        exports.write_csv(fh, ["a", "b"], [{"a": '=HYPERLINK("x")', "b": "-12.5"}])
    assert out.read_text().splitlines()[1] == '"\'=HYPERLINK(""x"")",-12.5'


# --- reading row by row -----------------------------------------------------------------------


class _CountingFile(io.BytesIO):
    """A file that records how far it has been read."""

    furthest = 0

    def read(self, size=-1):
        data = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return data


def test_it_reads_rows_as_they_are_asked_for_not_the_whole_file():
    body = b"".join(b"Ada %d,Lovelace,acme.example\n" % n for n in range(200_000))
    source = _CountingFile(b"first,last,domain\n" + body)

    reader = iter_csv(source)
    rows = iter(reader)
    first = next(rows)

    assert reader.headers == ["first", "last", "domain"]
    assert first == {"first": "Ada 0", "last": "Lovelace", "domain": "acme.example"}
    assert source.furthest < len(body) / 10
    assert sum(1 for _ in rows) == 199_999


def test_a_row_with_too_many_values_is_a_problem_and_the_rest_is_read(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"a,b\n1,2\n3,4,5\n\n6,7,,\n8\n")

    with iter_csv(path) as reader:
        records = list(reader)

    assert records == [
        {"a": "1", "b": "2"},
        RowProblem(3, "3 values for 2 columns"),
        {"a": "6", "b": "7"},  # trailing empty cells are a spreadsheet's extra commas
        {"a": "8", "b": ""},
    ]
    assert str(records[1]) == "line 3: 3 values for 2 columns"


def test_line_numbers_count_lines_inside_quoted_values():
    reader = iter_csv(io.BytesIO(b'a,b\n"two\nlines",x\n1,2,3\n'))
    assert list(reader)[1] == RowProblem(4, "3 values for 2 columns")


def test_an_oversized_field_is_a_problem_for_its_row_only():
    huge = b"x" * (MAX_FIELD_SIZE + 10)
    reader = iter_csv(io.BytesIO(b"a,b\n" + huge + b",1\nok,2\n"))
    records = list(reader)
    assert isinstance(records[0], RowProblem) and "field larger" in records[0].reason
    assert records[-1] == {"a": "ok", "b": "2"}


def test_lenient_parsing_keeps_problems_beside_the_rows():
    table = parse_csv(b"a,b\n1,2,3\n4,5\n", lenient=True)
    assert table.rows == [{"a": "4", "b": "5"}]
    assert table.problems == [RowProblem(2, "3 values for 2 columns")]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)) * 4, "PNG"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00[Content_Types].xml" + bytes(200), "ZIP"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF"),
        (bytes(range(256)) * 16, "binary"),
    ],
)
def test_a_binary_file_is_refused_in_one_line(raw, kind):
    with pytest.raises(NotTextCsv, match=f"^not a text CSV: .*{kind}") as caught:
        parse_csv(raw)
    assert "\n" not in str(caught.value)


def test_a_binary_file_given_to_enrich_is_refused_as_not_a_text_csv(tmp_path):
    path = tmp_path / "leads.xlsx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    with pytest.raises(CommandError, match=r"leads.xlsx: not a text CSV: the file is a ZIP"):
        call_command("enrich", str(path), "--show-mapping", stdout=io.StringIO())


def test_a_later_windows_1252_byte_in_a_utf8_file_is_read_not_fatal():
    head = "name,domain\nJosé Núñez,acme.example\n".encode()
    filler = b"".join(b"Ada %d,acme.example\n" % n for n in range(4000))  # past the sample
    table = parse_csv(head + filler + b"Ren\xe9 Dupont,acme.fr\n")

    assert table.encoding == "utf-8"
    assert table.rows[0]["name"] == "José Núñez"
    assert table.rows[-1]["name"] == "René Dupont"


def test_it_reads_utf16_with_a_bom_as_excel_writes_unicode_text():
    table = parse_csv("name\tdomain\nZoë Ng\tacme.example\n".encode("utf-16"))
    assert (table.encoding, table.dialect_delimiter) == ("utf-16", "\t")
    assert table.rows == [{"name": "Zoë Ng", "domain": "acme.example"}]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_it_detects_the_delimiter(delimiter):
    raw = delimiter.join(["first", "last", "domain"]) + "\n"
    raw += delimiter.join(["Ada", "Lovelace", "acme.example"]) + "\n"
    table = parse_csv(raw.encode())
    assert table.dialect_delimiter == delimiter
    assert table.rows == [{"first": "Ada", "last": "Lovelace", "domain": "acme.example"}]


def test_a_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(CsvError, match="cannot read .*No such file"):
        iter_csv(tmp_path / "nope.csv")
